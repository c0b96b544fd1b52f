"""Opening input files (gzip-aware), the messages for unreadable files, and the lazy
pyarrow import shared by the readers and the writer."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import IO, Any

from stance.errors import InputDataError
from stance.io.formats import is_gzip

BLOCK = 1 << 20  # bytes read or copied at a time


def input_is_empty(path: Path) -> bool:
    """Check that ``path`` is a readable file; True when it has no bytes at all."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputDataError(f"input file not found: {path}") from None
    except OSError as exc:
        raise read_error(path, exc) from exc
    if path.is_dir():
        raise InputDataError(
            f"the input {path} is a folder, expected a file; pass the path of a "
            ".csv, .jsonl or .parquet file"
        )
    return size == 0


def read_error(path: Path, exc: BaseException) -> InputDataError:
    """The :class:`InputDataError` that says why ``path`` could not be read and what to do."""
    if isinstance(exc, FileNotFoundError):
        return InputDataError(f"input file not found: {path}")
    if isinstance(exc, PermissionError):
        return InputDataError(
            f"cannot read {path}: permission denied; fix the file's permissions "
            f"(ls -l {path}) or copy it somewhere readable"
        )
    if isinstance(exc, gzip.BadGzipFile):
        return InputDataError(
            f"cannot read {path}: expected gzip-compressed data (the name ends in .gz) but "
            f"got something else ({exc}); rename the file without .gz if it is not compressed"
        )
    if isinstance(exc, (EOFError, zlib.error)):
        return InputDataError(
            f"cannot read {path}: the gzip data is truncated or corrupt ({exc}); "
            "re-create or re-download the file (gzip -t checks it)"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return InputDataError(f"cannot read {path}: {reason}")


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing ``.gz``; errors as :func:`read_error`."""
    try:
        return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise read_error(path, exc) from exc


def open_text(path: Path) -> IO[str]:
    """Open ``path`` as UTF-8 text (a BOM is skipped), decompressing ``.gz``."""
    kwargs: dict[str, Any] = {"encoding": "utf-8-sig", "newline": ""}
    try:
        return gzip.open(path, "rt", **kwargs) if is_gzip(path) else open(path, **kwargs)  # noqa: SIM115
    except OSError as exc:
        raise read_error(path, exc) from exc


def pyarrow_modules() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, imported on first use (pyarrow is slow to import)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq
