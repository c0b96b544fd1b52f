"""Locating the first bytes of a file that are not UTF-8, and turning low-level read
failures (undecodable bytes included) into :class:`~stance.errors.InputDataError`."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path

from stance.errors import InputDataError, StanceError
from stance.io.files import BLOCK, open_binary, read_error
from stance.io.formats import is_gzip, table_suffix


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn low-level read failures into :class:`InputDataError` naming ``path``."""
    try:
        yield
    except StanceError:
        raise
    except UnicodeDecodeError:
        raise encoding_error(path) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise read_error(path, exc) from exc


def encoding_error(path: Path, found: tuple[int, int, bytes] | None = None) -> InputDataError:
    """Describe the first bytes of ``path`` that are not UTF-8: offset, line and a fix.

    ``found`` is ``(byte offset, 1-based line, bad bytes)``; when not given, the file is
    scanned for it.
    """
    fix = f"iconv -f latin1 -t utf-8 {path} > fixed{table_suffix(path.name.lower())}"
    if is_gzip(path):
        fix = f"gunzip -c {path} | iconv -f latin1 -t utf-8 | gzip > fixed{table_suffix(path.name)}"
    advice = (
        f"Re-encode the file as UTF-8, e.g. `{fix}` (put the file's real encoding in place "
        "of latin1)."
    )
    if found is None:
        try:
            found = _find_bad_utf8(path)
        except (OSError, EOFError, zlib.error):
            found = None
    if found is None:
        return InputDataError(f"{path} is not valid UTF-8 text; expected UTF-8. {advice}")
    offset, line, bad = found
    where = " of the decompressed data" if is_gzip(path) else ""
    return InputDataError(
        f"{path} line {line}: not valid UTF-8 (byte 0x{bad.hex()} at byte offset "
        f"{offset}{where}); expected UTF-8 text. {advice}"
    )


def _find_bad_utf8(path: Path) -> tuple[int, int, bytes] | None:
    """Return (byte offset, 1-based line, bad bytes) of the first invalid UTF-8 sequence."""
    offset = newlines = 0
    carry = b""
    with open_binary(path) as f:
        while True:
            block = f.read(BLOCK)
            data = carry + block
            if not data:
                return None
            try:
                data.decode("utf-8")
                good, carry = len(data), b""
            except UnicodeDecodeError as exc:
                if block and exc.reason == "unexpected end of data":
                    good, carry = exc.start, data[exc.start :]  # completed by the next block
                else:
                    line = newlines + data.count(b"\n", 0, exc.start) + 1
                    return offset + exc.start, line, data[exc.start : exc.end]
            newlines += data.count(b"\n", 0, good)
            offset += good
            if not block:
                return None
