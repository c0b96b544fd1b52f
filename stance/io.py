"""Streaming table readers and a crash-safe, resumable table writer.

The format of a file is chosen by its extension (:func:`table_format`):

=========  ===========================================================
format     extensions (case-insensitive)
=========  ===========================================================
csv        ``.csv``, ``.csv.gz``
jsonl      ``.jsonl``, ``.jsonl.gz``, ``.ndjson``, ``.ndjson.gz``
parquet    ``.parquet``, ``.pq``
=========  ===========================================================

Readers never load a whole file: :func:`iter_batches` yields DataFrames of at most
``batch_size`` rows whose index holds the global 0-based row positions.
:class:`ResumableWriter` commits every appended frame atomically under ``OUTPUT.partial/``,
so a job killed at any instant (even ``kill -9``) resumes without losing or duplicating a
row, and :meth:`ResumableWriter.finalize` moves the complete file into place with one
atomic rename.

Typical use (this is what ``stance score INPUT -o OUTPUT --resume`` does)::

    writer = ResumableWriter.open("scored.csv", fingerprint, resume=True)
    for frame in iter_batches("pairs.csv", 2048, skip_rows=writer.rows_done):
        writer.append(score(frame))
    writer.finalize()

User mistakes raise :mod:`stance.errors` classes whose message names the file (and the
1-based line where relevant), says what was expected, what came, and how to fix it.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import glob
import gzip
import io
import json
import os
import shutil
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from stance.errors import ConfigError, InputDataError, OutputError, StanceError, did_you_mean

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ResumableWriter",
    "count_rows",
    "is_gzip",
    "iter_batches",
    "read_columns",
    "table_format",
]

_FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(_FORMATS)
"""File extensions :func:`table_format` understands."""

_PART_SUFFIX = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}
_BLOCK = 1 << 20  # bytes read or copied at a time
_BOM = b"\xef\xbb\xbf"
_JSON_SPACE = " \t\r\n"  # the whitespace JSON allows around a value
_CSV_FIELD_LIMIT = 2**31 - 1  # the csv module's default (128 KiB) is too small for long texts
_MANIFEST = "manifest.json"
_TRASH_PREFIX = ".finished-"  # + the work folder's name + "-<pid>": being deleted
_MANIFEST_VERSION = 1
_MISSING = object()


# --------------------------------------------------------------------------- formats


def table_format(path: str | os.PathLike[str]) -> str:
    """Return ``"csv"``, ``"jsonl"`` or ``"parquet"`` for ``path``, chosen by its extension.

    >>> table_format("pairs.CSV.gz")
    'csv'
    >>> table_format("pairs.ndjson")
    'jsonl'

    Raises :class:`~stance.errors.ConfigError` (listing the supported extensions) for any
    other extension.
    """
    name = Path(path).name.lower()
    for extension, fmt in _FORMATS.items():
        if name.endswith(extension):
            return fmt
    suffix = _suffix(name)
    if suffix in (".tsv", ".tab", ".tsv.gz", ".txt"):
        hint = " Convert the file to comma-separated CSV (or JSON lines) first."
    elif suffix in (".json", ".json.gz"):
        hint = (
            " If it holds one JSON object per line, rename it to .jsonl; a file holding one"
            " JSON array must be converted first, e.g. jq -c '.[]' in.json > in.jsonl."
        )
    else:
        hint = did_you_mean(suffix, _FORMATS) if suffix else ""
    got = f"'{suffix}'" if suffix else "no extension"
    raise ConfigError(
        f"cannot tell the table format of {path}: expected a file name ending in "
        f"{', '.join(_FORMATS)}; got {got}.{hint} Rename or convert the file."
    )


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names a gzip-compressed file (its name ends in ``.gz``).

    >>> is_gzip("pairs.jsonl.gz"), is_gzip("pairs.jsonl")
    (True, False)
    """
    return Path(path).name.lower().endswith(".gz")


def _suffix(name: str) -> str:
    suffixes = Path(name).suffixes
    if not suffixes:
        return ""
    if suffixes[-1] == ".gz" and len(suffixes) > 1:
        return "".join(suffixes[-2:])
    return suffixes[-1]


# --------------------------------------------------------------------------- reading


def read_columns(path: str | os.PathLike[str]) -> list[str]:
    """Column names of a table file, read without loading the whole file.

    CSV: the header row; Parquet: the schema; JSONL: the keys of the first object, in
    order. An empty file gives ``[]``.

    Example::

        >>> read_columns("pairs.csv")        # doctest: +SKIP
        ['id', 'claim', 'response']
    """
    path = Path(path)
    fmt = table_format(path)
    if _input_is_empty(path):
        return []
    if fmt == "parquet":
        with _parquet_file(path) as pf:
            return [str(name) for name in pf.schema_arrow.names]
    with _reading(path):
        if fmt == "csv":
            with contextlib.closing(_csv_records(path)) as records:
                first = next(records, None)
            if first is None:
                return []
            line, _, header = first
            _check_header(path, line, header)
            return header
        with contextlib.closing(_jsonl_records(path)) as objects:
            found = next(objects, None)
        return [] if found is None else list(found[1])


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """Cheap row count of a table file, for a progress bar.

    Parquet: exact, from the metadata. JSONL: the number of non-blank lines. CSV: the
    number of lines minus the header (an over-estimate when quoted fields hold line breaks).
    Reads in 1 MiB blocks without parsing, so it takes well under a second for 1M rows
    (gzip files are decompressed on the way). The ``None`` of the signature is kept for
    formats without a cheap count; every supported format gets an ``int``.

    Example::

        >>> count_rows("pairs.csv")          # doctest: +SKIP
        1000000
    """
    path = Path(path)
    fmt = table_format(path)
    if _input_is_empty(path):
        return 0
    if fmt == "parquet":
        with _parquet_file(path) as pf:
            return int(pf.metadata.num_rows)
    with _reading(path), _open_binary(path) as f:
        if fmt == "jsonl":
            return _count_nonblank_lines(f)
        lines, last = 0, b""
        for block in iter(lambda: f.read(_BLOCK), b""):
            lines += block.count(b"\n")
            last = block[-1:]
        if last and last != b"\n":
            lines += 1  # the last line has no line break
        return max(lines - 1, 0)


def _count_nonblank_lines(f: IO[bytes]) -> int:
    count = 0
    pending = False  # the line read so far (not yet ended by "\n") holds non-blank text
    for block in iter(lambda: f.read(_BLOCK), b""):
        pieces = block.split(b"\n")
        for piece in pieces[:-1]:
            if pending or piece.strip(b" \t\r"):
                count += 1
            pending = False
        pending = pending or bool(pieces[-1].strip(b" \t\r"))
    return count + pending


def iter_batches(
    path: str | os.PathLike[str], batch_size: int, skip_rows: int = 0
) -> Iterator[pd.DataFrame]:
    """Stream a table file as DataFrames of at most ``batch_size`` rows.

    The first ``skip_rows`` data rows are skipped (``--resume`` passes
    :attr:`ResumableWriter.rows_done`); skipped rows are parsed (to stay correct about
    quoting, blank lines and column names) but never turned into DataFrames, and whole
    Parquet row groups are skipped from the metadata alone. Each frame's index holds the
    global 0-based row positions, so after ``skip_rows=10`` the first index is 10.

    * CSV: UTF-8 (a BOM is dropped), every cell is text exactly as written (``""``,
      ``"NA"`` and ``"null"`` stay strings); blank lines are not rows.
    * JSONL: one JSON object per line, blank lines are not rows; values keep their JSON
      types (``dtype=object``). Columns are the keys of the first object, plus new keys
      appended as they first appear; a key a row lacks reads as ``None``.
    * Parquet: Arrow types converted by ``to_pandas()``.

    An empty file, or a CSV file with only a header, yields nothing. Unreadable data
    raises :class:`~stance.errors.InputDataError` naming the file and line.

    Example::

        >>> [list(f.index) for f in iter_batches("ten_rows.csv", 4, skip_rows=3)]  # doctest: +SKIP
        [[3, 4, 5, 6], [7, 8, 9]]
    """
    path = Path(path)
    fmt = table_format(path)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a whole number of rows >= 1, got {batch_size!r}")
    if isinstance(skip_rows, bool) or not isinstance(skip_rows, int) or skip_rows < 0:
        raise ConfigError(f"skip_rows must be a whole number >= 0, got {skip_rows!r}")
    if _input_is_empty(path):
        return iter(())
    readers = {"csv": _csv_batches, "jsonl": _jsonl_batches, "parquet": _parquet_batches}
    return readers[fmt](path, batch_size, skip_rows)


def _input_is_empty(path: Path) -> bool:
    """Check that ``path`` is a readable file; True when it has no bytes at all."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputDataError(f"input file not found: {path}") from None
    except OSError as exc:
        raise _read_error(path, exc) from exc
    if path.is_dir():
        raise InputDataError(
            f"the input {path} is a folder, expected a file; pass the path of a "
            ".csv, .jsonl or .parquet file"
        )
    return size == 0


def _read_error(path: Path, exc: BaseException) -> InputDataError:
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


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn low-level read failures into :class:`InputDataError` naming ``path``."""
    try:
        yield
    except StanceError:
        raise
    except UnicodeDecodeError:
        raise _encoding_error(path) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(path, exc) from exc


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise _read_error(path, exc) from exc


def _open_text(path: Path) -> IO[str]:
    kwargs: dict[str, Any] = {"encoding": "utf-8-sig", "newline": ""}
    try:
        return gzip.open(path, "rt", **kwargs) if is_gzip(path) else open(path, **kwargs)  # noqa: SIM115
    except OSError as exc:
        raise _read_error(path, exc) from exc


def _encoding_error(path: Path, found: tuple[int, int, bytes] | None = None) -> InputDataError:
    """Describe the first bytes of ``path`` that are not UTF-8: offset, line and a fix.

    ``found`` is ``(byte offset, 1-based line, bad bytes)``; when not given, the file is
    scanned for it.
    """
    fix = f"iconv -f latin1 -t utf-8 {path} > fixed{_suffix(path.name.lower())}"
    if is_gzip(path):
        fix = f"gunzip -c {path} | iconv -f latin1 -t utf-8 | gzip > fixed{_suffix(path.name)}"
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
    with _open_binary(path) as f:
        while True:
            block = f.read(_BLOCK)
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


# CSV ------------------------------------------------------------------------------


def _csv_records(path: Path) -> Iterator[tuple[int, int, list[str]]]:
    """Yield ``(first line, last line, fields)`` for every non-blank CSV record."""
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    with _open_text(path) as f:
        reader = csv.reader(f, strict=True)
        line = 0  # the last physical line consumed
        while True:
            start = line + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise _csv_error(path, start, reader.line_num, exc) from None
            line = reader.line_num
            if fields:
                yield start, line, fields


def _csv_error(path: Path, start: int, line: int, exc: csv.Error) -> InputDataError:
    if "unexpected end of data" in str(exc):
        return InputDataError(
            f"{path} line {start}: a quoted field starting on this line is never closed "
            '(expected a closing " before the end of the file). Close the quote, and write '
            'any " inside a quoted field twice ("").'
        )
    return InputDataError(
        f"{path} line {line}: malformed CSV ({exc}). Fields holding commas, quotes or line "
        'breaks must be enclosed in double quotes, with inner quotes doubled ("").'
    )


def _where(path: Path, start: int, end: int) -> str:
    return f"{path} line {start}" if start == end else f"{path} line {start} (to line {end})"


def _check_header(path: Path, line: int, header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputDataError(
                f"{path} line {line}: the header names the column '{name}' more than once; "
                "expected unique column names. Rename the duplicates."
            )
        seen.add(name)


def _preview(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _csv_batches(path: Path, batch_size: int, skip_rows: int) -> Iterator[pd.DataFrame]:
    with _reading(path):
        records = _csv_records(path)
        first = next(records, None)
        if first is None:
            return
        line, _, columns = first
        _check_header(path, line, columns)
        position = 0  # data rows seen so far
        rows: list[list[str]] = []
        for start, end, fields in records:
            if len(fields) != len(columns):
                raise InputDataError(
                    f"{_where(path, start, end)}: expected {len(columns)} fields, one per "
                    f"header column ({_preview(columns)}), got {len(fields)}. Quote fields "
                    'that contain commas ("a, b"), or fix the row.'
                )
            position += 1
            if position <= skip_rows:
                continue
            rows.append(fields)
            if len(rows) == batch_size:
                yield _text_frame(columns, rows, position - len(rows))
                rows = []
        if rows:
            yield _text_frame(columns, rows, position - len(rows))


def _text_frame(columns: list[str], rows: list[list[str]], start: int) -> pd.DataFrame:
    by_column = zip(*rows, strict=True)
    data = {name: list(values) for name, values in zip(columns, by_column, strict=True)}
    index = pd.RangeIndex(start, start + len(rows))
    return pd.DataFrame(data, index=index, columns=columns, dtype=str)


# JSONL ----------------------------------------------------------------------------


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for every non-blank line of a JSONL file."""
    with _open_binary(path) as f:
        offset = 0  # byte offset of the current line
        for number, raw in enumerate(f, 1):
            start = offset
            offset += len(raw)
            if number == 1 and raw.startswith(_BOM):
                raw, start = raw[len(_BOM) :], start + len(_BOM)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.end]
                raise _encoding_error(path, (start + exc.start, number, bad)) from None
            if not text.strip(_JSON_SPACE):
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputDataError(
                    f"{path} line {number}: invalid JSON ({exc.msg} at column {exc.colno}); "
                    "expected one complete JSON object per line, like "
                    '{"claim": "...", "response": "..."}. Fix or remove that line.'
                ) from None
            except RecursionError:
                raise InputDataError(
                    f"{path} line {number}: the JSON is nested too deeply to read; "
                    "flatten that line's object."
                ) from None
            if not isinstance(record, dict):
                raise InputDataError(
                    f"{path} line {number}: expected a JSON object like "
                    f'{{"claim": "...", "response": "..."}}, got {_json_kind(record)}. '
                    "Write one object per line (a file holding a JSON array can be "
                    "converted with jq -c '.[]')."
                )
            yield number, record


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def _jsonl_batches(path: Path, batch_size: int, skip_rows: int) -> Iterator[pd.DataFrame]:
    columns: list[str] = []
    known: set[str] = set()
    position = 0
    records: list[dict[str, Any]] = []
    with _reading(path):
        for _, record in _jsonl_records(path):
            if len(record) != len(known) or not known.issuperset(record):
                for key in record:
                    if key not in known:
                        known.add(key)
                        columns.append(key)
            position += 1
            if position <= skip_rows:
                continue
            records.append(record)
            if len(records) == batch_size:
                yield _object_frame(columns, records, position - len(records))
                records = []
        if records:
            yield _object_frame(columns, records, position - len(records))


def _object_frame(columns: list[str], records: list[dict[str, Any]], start: int) -> pd.DataFrame:
    data = {name: [record.get(name) for record in records] for name in columns}
    index = pd.RangeIndex(start, start + len(records))
    return pd.DataFrame(data, index=index, columns=list(columns), dtype=object)


# Parquet --------------------------------------------------------------------------


def _arrow() -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


@contextlib.contextmanager
def _parquet_file(path: Path) -> Iterator[Any]:
    """Open a Parquet file, turning Arrow and OS errors into :class:`InputDataError`."""
    pa, pq = _arrow()
    try:
        with pq.ParquetFile(path) as pf:
            yield pf
    except StanceError:
        raise
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise _read_error(path, exc) from exc
        raise InputDataError(
            f"cannot read {path} as Parquet ({exc}); expected a complete Parquet file. "
            "Check that it was written completely, or export it again."
        ) from exc


def _parquet_batches(path: Path, batch_size: int, skip_rows: int) -> Iterator[pd.DataFrame]:
    with _parquet_file(path) as pf:
        meta = pf.metadata
        groups = meta.num_row_groups
        first, position = 0, 0  # skip whole row groups using the metadata alone
        while first < groups and position + meta.row_group(first).num_rows <= skip_rows:
            position += meta.row_group(first).num_rows
            first += 1
        if first == groups:
            return
        drop = skip_rows - position
        pandas_meta = pf.schema_arrow.pandas_metadata or {}
        # An index stored as a column is kept as a plain column (as read_columns lists it).
        ignore_meta = any(isinstance(c, str) for c in pandas_meta.get("index_columns", []))
        batches = pf.iter_batches(batch_size=batch_size, row_groups=range(first, groups))
        for batch in batches:
            if drop >= batch.num_rows:
                drop -= batch.num_rows
                position += batch.num_rows
                continue
            if drop:
                batch = batch.slice(drop)
                position += drop
                drop = 0
            frame = batch.to_pandas(ignore_metadata=ignore_meta)
            frame.index = pd.RangeIndex(position, position + len(frame))
            position += len(frame)
            yield frame


# --------------------------------------------------------------------------- writing


class ResumableWriter:
    """Crash-safe output of a streaming job: parts are committed atomically, resumable
    after kill -9.

    Appended frames become numbered part files in the work folder ``OUTPUT.partial``
    next to the output, recorded in its ``manifest.json`` (the job's fingerprint, the
    format, the committed parts and columns, and :attr:`rows_done`). A part counts only
    once the manifest lists it, and the manifest is replaced atomically, so a kill at any
    instant leaves each part either fully committed or not at all. :meth:`finalize`
    assembles the parts into ``OUTPUT`` with one atomic rename and removes the work folder.

    Every :meth:`append` costs two fsyncs and rewrites the manifest, so append chunks of
    thousands of rows rather than a few.

    Example::

        writer = ResumableWriter.open("scored.jsonl", {"input": "pairs.jsonl"}, resume=True)
        for frame in iter_batches("pairs.jsonl", 2048, skip_rows=writer.rows_done):
            writer.append(frame)
        writer.finalize()  # -> Path("scored.jsonl")
    """

    def __init__(self, output: Path, work_dir: Path, manifest: dict[str, Any]) -> None:
        self.output = output
        self.work_dir = work_dir
        self.format: str = manifest["format"]
        self._manifest = manifest
        self._state = "open"  # "open" | "failed" | "finalized"

    # ---- opening

    @classmethod
    def open(
        cls, output: str | os.PathLike[str], fingerprint: dict[str, Any], resume: bool
    ) -> ResumableWriter:
        """Start a job writing ``output``, or continue an interrupted one when ``resume``.

        ``fingerprint`` is a JSON-serialisable dict describing the job (input path, size,
        mtime, model, options); resuming a work folder made with another fingerprint is
        refused. Raises :class:`~stance.errors.OutputError` when the output folder is
        missing or not writable, when an interrupted run exists and ``resume`` is false,
        or when its fingerprint differs. With ``resume`` and no interrupted run, it starts
        fresh (``rows_done == 0``).

        >>> w = ResumableWriter.open("out.csv", {"input": "in.csv"}, resume=True)  # doctest: +SKIP
        >>> w.rows_done  # doctest: +SKIP
        0
        """
        output = Path(output)
        fmt = table_format(output)
        if not isinstance(fingerprint, Mapping):
            raise TypeError(f"fingerprint must be a dict, got {type(fingerprint).__name__}")
        fingerprint = json.loads(json.dumps(dict(fingerprint)))  # as it reads back from JSON
        _check_output_location(output)
        work = Path(f"{output}.partial")
        _remove_finished_work(work)
        try:
            if work.is_symlink() or work.exists():
                if not work.is_dir():
                    raise OutputError(
                        f"{work} is in the way: expected the work folder of an interrupted "
                        f"run, found a file; delete it or choose another output path"
                    )
                if not resume:
                    raise OutputError(
                        f"found an interrupted run in {work}{_rows_note(work)}; pass --resume "
                        f"to continue it, or delete {work} to start over"
                    )
                manifest = _load_manifest(work)
                if manifest is None:  # killed before its first manifest was written
                    manifest = _new_manifest(output, fmt, fingerprint)
                    _write_manifest(work, manifest)
                else:
                    _check_resumable(output, work, manifest, fmt, fingerprint)
                _remove_strays(work, manifest)
            else:
                work.mkdir()
                manifest = _new_manifest(output, fmt, fingerprint)
                _write_manifest(work, manifest)
        except StanceError:
            raise
        except OSError as exc:
            raise OutputError(
                f"cannot prepare the work folder {work}: {exc.strerror or exc}; check free "
                "space and permissions of the output folder"
            ) from exc
        return cls(output, work, manifest)

    @property
    def rows_done(self) -> int:
        """Data rows already committed; pass it as ``skip_rows`` to :func:`iter_batches`."""
        return int(self._manifest["rows_done"])

    @property
    def columns(self) -> list[str] | None:
        """Columns written so far (``None`` before the first :meth:`append`)."""
        columns = self._manifest["columns"]
        return None if columns is None else list(columns)

    # ---- appending

    def append(self, frame: pd.DataFrame) -> None:
        """Commit ``frame`` (its index is ignored) as the next part of the output.

        The part is written under a temporary name, fsynced, renamed into place, and
        then the manifest is replaced atomically; only then does :attr:`rows_done` grow.
        CSV output needs the same columns in the same order in every frame. After a
        failed append the writer refuses further use: re-run with ``--resume``.
        """
        self._require_open()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"append() takes a pandas DataFrame, got {type(frame).__name__}")
        self._state = "failed"  # until this append has fully succeeded
        columns = [str(c) for c in frame.columns]
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise OutputError(
                f"cannot write {self.output}: the column(s) {', '.join(map(repr, duplicates))} "
                "appear more than once; expected unique column names. Rename the duplicates."
            )
        manifest = json.loads(json.dumps(self._manifest))
        known = manifest["columns"]
        if self.format == "csv" and known is not None and known != columns:
            raise OutputError(_column_change_message(self.output, self.rows_done, known, columns))
        if known is None:
            manifest["columns"] = columns
        else:
            manifest["columns"] = known + [c for c in columns if c not in set(known)]
        number = len(manifest["parts"]) + 1
        name = f"part-{number:06d}.{_PART_SUFFIX[self.format]}"
        temp = self.work_dir / f".{name}.tmp"
        try:
            with open(temp, "wb") as f:
                if self.format == "parquet":
                    _arrow()[1].write_table(_arrow_table(frame), f)
                elif self.format == "jsonl":
                    f.write(_jsonl_bytes(frame))
                else:
                    f.write(_csv_bytes(frame))
                f.flush()
                os.fsync(f.fileno())
                size = f.tell()
            os.replace(temp, self.work_dir / name)
            manifest["parts"].append({"file": name, "rows": len(frame), "bytes": size})
            manifest["rows_done"] += len(frame)
            _write_manifest(self.work_dir, manifest)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise OutputError(
                f"cannot write to {self.work_dir}: {exc.strerror or exc}; free disk space or "
                f"fix permissions, then re-run with --resume to continue after row "
                f"{self.rows_done}"
            ) from exc
        self._manifest = manifest
        self._state = "open"

    # ---- finishing

    def finalize(self) -> Path:
        """Assemble the committed parts into the output file and remove the work folder.

        The parts are streamed in order into a temporary file next to the output, which
        is fsynced and renamed onto ``output``; nothing that looks complete appears at
        ``output`` unless everything succeeded. On failure the temporary file is removed
        and the work folder kept, so ``--resume`` can retry. Returns the output path.
        A job without rows still writes a valid empty output.
        """
        self._require_open()
        temp = self.output.with_name(f"{self.output.name}.tmp-{os.getpid()}")
        try:
            if self.format == "parquet":
                self._assemble_parquet(temp)
            else:
                self._assemble_text(temp)
            os.replace(temp, self.output)
            _fsync_dir(self.output.parent)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not isinstance(exc, StanceError):
                raise OutputError(
                    f"cannot write {self.output}: {exc.strerror or exc}; the finished rows are "
                    f"kept in {self.work_dir}: fix the problem and re-run with --resume"
                ) from exc
            raise
        self._state = "finalized"
        # Move the work folder out of the way in one atomic step before deleting it: a
        # kill during the deletion must not leave a half-deleted folder that --resume
        # would find damaged. open() removes such leftovers.
        trash = self.work_dir.with_name(f"{_TRASH_PREFIX}{self.work_dir.name}-{os.getpid()}")
        try:
            os.replace(self.work_dir, trash)
            shutil.rmtree(trash)
        except OSError as exc:
            raise OutputError(
                f"{self.output} is complete, but its work folder {self.work_dir} could not be "
                f"removed ({exc.strerror or exc}); delete it by hand"
            ) from exc
        return self.output

    def _require_open(self) -> None:
        if self._state == "finalized":
            raise OutputError(f"{self.output} was already finalized; open a new writer")
        if self._state == "failed":
            raise OutputError(
                f"an earlier write to {self.work_dir} failed; re-run with --resume to "
                "continue from the last committed row"
            )

    def _part_paths(self) -> list[Path]:
        return [self.work_dir / part["file"] for part in self._manifest["parts"]]

    def _assemble_text(self, temp: Path) -> None:
        with open(temp, "wb") as raw:
            out: IO[bytes] = raw
            if is_gzip(self.output):
                out = gzip.GzipFile(filename=self.output.name, mode="wb", fileobj=raw)
            try:
                columns = self._manifest["columns"]
                if self.format == "csv" and columns is not None:
                    out.write(_csv_header(columns))
                for part in self._part_paths():
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out, _BLOCK)
            finally:
                if out is not raw:
                    out.close()
            raw.flush()
            os.fsync(raw.fileno())

    def _assemble_parquet(self, temp: Path) -> None:
        pa, pq = _arrow()
        parts = self._part_paths()
        if not parts:
            columns = self._manifest["columns"] or []
            table = pa.table({name: pa.array([], pa.string()) for name in columns})
            with open(temp, "wb") as f:
                pq.write_table(table, f)
                f.flush()
                os.fsync(f.fileno())
            return
        try:
            schemas = [pq.read_schema(part) for part in parts]
            as_text: set[str] = set()
            while True:
                schema = _unify_schemas(schemas, as_text)
                try:
                    with open(temp, "wb") as f:
                        with pq.ParquetWriter(f, schema) as writer:
                            for part in parts:
                                writer.write_table(_conform(pq.read_table(part), schema))
                        f.flush()
                        os.fsync(f.fileno())
                    return
                except _CastFailed as failed:
                    as_text.add(failed.column)  # values do not fit the unified type: use text
        except pa.ArrowException as exc:
            if isinstance(exc, OSError):
                raise
            raise _damaged(self.work_dir, f"a part cannot be read back: {exc}") from exc


# ---- writer helpers


def _check_output_location(output: Path) -> None:
    parent = output.parent
    if output.is_dir():
        raise OutputError(
            f"the output {output} is a folder; expected a file path such as "
            f"{output / ('scored' + _suffix(output.name).lower())}"
        )
    if not parent.exists():
        raise OutputError(
            f"cannot write {output}: the folder {parent} does not exist; create it "
            f"(mkdir -p {parent}) or choose another output path"
        )
    if not parent.is_dir():
        raise OutputError(f"cannot write {output}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write {output}: no permission to create files in {parent}; choose a "
            "folder you can write to, or fix its permissions"
        )


def _remove_finished_work(work: Path) -> None:
    """Delete work folders of finished runs whose deletion was interrupted (a kill)."""
    pattern = f"{glob.escape(_TRASH_PREFIX + work.name)}-*"
    for stale in work.parent.glob(pattern):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


def _new_manifest(output: Path, fmt: str, fingerprint: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": _MANIFEST_VERSION,
        "output": str(output),
        "format": fmt,
        "fingerprint": fingerprint,
        "rows_done": 0,
        "columns": None,
        "parts": [],
    }


def _write_manifest(work: Path, manifest: dict[str, Any]) -> None:
    """Replace ``work/manifest.json`` atomically and durably."""
    temp = work / f".{_MANIFEST}.tmp"
    with open(temp, "wb") as f:
        f.write(json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, work / _MANIFEST)
    _fsync_dir(work)


def _fsync_dir(folder: Path) -> None:
    """Make renames inside ``folder`` durable (POSIX only; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _damaged(work: Path, what: str) -> OutputError:
    return OutputError(
        f"the interrupted run in {work} is damaged ({what}) and cannot be resumed; "
        f"delete {work} to start over"
    )


def _load_manifest(work: Path) -> dict[str, Any] | None:
    path = work / _MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _damaged(work, f"{path} is not valid JSON: {exc}") from None
    try:
        if manifest["version"] != _MANIFEST_VERSION:
            raise OutputError(
                f"the interrupted run in {work} was written by another version of stance "
                f"(manifest version {manifest['version']}); delete {work} to start over"
            )
        parts = manifest["parts"]
        total = 0
        for part in parts:
            name, rows, size = part["file"], part["rows"], part["bytes"]
            if not isinstance(name, str) or Path(name).name != name or name == _MANIFEST:
                raise _damaged(work, f"bad part name {name!r}")
            if not isinstance(rows, int) or not isinstance(size, int):
                raise _damaged(work, f"bad row or byte count for {name}")
            total += rows
        if total != manifest["rows_done"]:
            raise _damaged(work, "its row counts do not add up")
        if manifest["columns"] is not None and not isinstance(manifest["columns"], list):
            raise _damaged(work, "bad column list")
        missing = [key for key in ("fingerprint", "format") if key not in manifest]
        if missing:
            raise KeyError(missing[0])
    except (KeyError, TypeError) as exc:
        raise _damaged(work, f"{path} lacks {exc}") from None
    return manifest


def _rows_note(work: Path) -> str:
    try:
        manifest = _load_manifest(work)
    except StanceError:
        return ""
    return f" ({manifest['rows_done']} rows already written)" if manifest else ""


def _check_resumable(
    output: Path, work: Path, manifest: dict[str, Any], fmt: str, fingerprint: dict[str, Any]
) -> None:
    old = dict(manifest["fingerprint"]) if isinstance(manifest["fingerprint"], dict) else {}
    new = dict(fingerprint)
    old["format"], new["format"] = manifest["format"], fmt
    differences = [
        f"{key}: {_show(old.get(key, _MISSING))} -> {_show(new.get(key, _MISSING))}"
        for key in list(old) + [k for k in new if k not in old]
        if old.get(key, _MISSING) != new.get(key, _MISSING)
    ]
    if differences:
        raise OutputError(
            f"cannot resume {output}: the interrupted run in {work} belongs to a different "
            f"job (interrupted run -> this run): {'; '.join(differences)}. Run again with the "
            f"same input file and options to resume it, or delete {work} to start over."
        )
    for part in manifest["parts"]:
        path = work / part["file"]
        if not path.is_file() or path.stat().st_size != part["bytes"]:
            raise _damaged(work, f"the committed part {path.name} is missing or truncated")


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(not set)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _remove_strays(work: Path, manifest: dict[str, Any]) -> None:
    """Delete files a killed append left behind (temporary or uncommitted parts)."""
    keep = {_MANIFEST} | {part["file"] for part in manifest["parts"]}
    for entry in work.iterdir():
        if entry.name not in keep and (entry.is_symlink() or entry.is_file()):
            entry.unlink()


def _column_change_message(output: Path, rows_done: int, old: list[str], new: list[str]) -> str:
    added = [c for c in new if c not in old]
    missing = [c for c in old if c not in new]
    change = []
    if added:
        change.append(f"new: {_preview(added)}")
    if missing:
        change.append(f"missing: {_preview(missing)}")
    detail = "; ".join(change) if change else "same names in another order"
    return (
        f"cannot write {output}: CSV output needs the same columns in every row, but they "
        f"changed after row {rows_done} ({detail}). Write JSONL or Parquet output instead "
        "(e.g. -o scored.jsonl), or give every input row the same fields."
    )


def _csv_header(columns: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(columns)  # see _csv_bytes
    return (buffer.getvalue()[:-2] + "\n").encode("utf-8", "backslashreplace")


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV lines of ``frame`` ending in ``\\n``; cells holding ``\\r`` are quoted too.

    The csv module (Python < 3.12) quotes only cells holding a character of the line
    terminator, so with ``\\n`` a bare ``\\r`` in a cell would be written unquoted and
    read back as a line break. Rows with such cells are written with ``\\r\\n`` (which
    quotes them) and their own terminator swapped for ``\\n``.
    """
    text = frame.to_csv(header=False, index=False, lineterminator="\n")
    if "\r" in text:
        has_cr = np.array(
            [
                any(isinstance(v, str) and "\r" in v for v in row)
                for row in frame.itertuples(index=False, name=None)
            ],
            dtype=bool,
        )
        pieces, start = [], 0
        while start < len(frame):
            end = start
            while end < len(frame) and has_cr[end] == has_cr[start]:
                end += 1
            if has_cr[start]:
                pieces.extend(
                    frame.iloc[[i]].to_csv(header=False, index=False, lineterminator="\r\n")[:-2]
                    + "\n"
                    for i in range(start, end)
                )
            else:
                pieces.append(
                    frame.iloc[start:end].to_csv(header=False, index=False, lineterminator="\n")
                )
            start = end
        text = "".join(pieces)
    return text.encode("utf-8", "backslashreplace")


def _json_value(value: Any) -> Any:
    """Missing values (None, NaN, NA, NaT) become None; everything else is kept."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)) and value != value:
        return None
    return value


def _json_default(value: Any) -> Any:
    """Convert what :func:`json.dumps` cannot encode by itself."""
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (datetime.date, datetime.time)):  # includes pandas.Timestamp
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)  # Decimal, timedelta and anything else: its text


def _dumps(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError):  # e.g. tuple dict keys or a circular structure
        return json.dumps({k: _as_text(v) for k, v in record.items()}, ensure_ascii=False)


def _jsonl_bytes(frame: pd.DataFrame) -> bytes:
    columns = [str(c) for c in frame.columns]
    lines = [
        _dumps({name: _json_value(value) for name, value in zip(columns, values, strict=True)})
        for values in frame.itertuples(index=False, name=None)
    ]
    text = "".join(line + "\n" for line in lines)
    return text.encode("utf-8", "backslashreplace")


def _as_text(value: Any) -> str | None:
    """Text form of a value for a column that must be stored as strings."""
    value = _json_value(value)
    if isinstance(value, np.generic):
        value = _json_value(value.item())
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, tuple, dict, np.ndarray)):
        try:
            text = json.dumps(value, ensure_ascii=False, default=_json_default)
        except (TypeError, ValueError):
            text = str(value)
    else:
        text = str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")  # no lone surrogates


def _arrow_table(frame: pd.DataFrame) -> Any:
    pa, _ = _arrow()
    names = [str(c) for c in frame.columns]
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if table.column_names != names:
            table = table.rename_columns(names)
        return table
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        pass
    arrays = []
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        try:
            arrays.append(pa.array(column, from_pandas=True))
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            arrays.append(pa.array([_as_text(v) for v in column], type=pa.string()))
    return pa.Table.from_arrays(arrays, names=names)


class _CastFailed(Exception):
    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _unify_schemas(schemas: list[Any], as_text: Iterable[str]) -> Any:
    """One schema for all parts: types promoted where possible, else stored as text."""
    pa, _ = _arrow()
    as_text = set(as_text)
    first = schemas[0]
    if not as_text and all(s.equals(first, check_metadata=True) for s in schemas[1:]):
        return first
    names: list[str] = []
    for schema in schemas:
        names.extend(name for name in schema.names if name not in names)
    fields = []
    for name in names:
        types = []
        for schema in schemas:
            if name in schema.names:
                kind = schema.field(name).type
                if not any(kind.equals(t) for t in types):
                    types.append(kind)
        if name in as_text:
            kind = pa.string()
        elif len(types) == 1:
            kind = types[0]
        else:
            single = [pa.schema([pa.field(name, t)]) for t in types]
            try:
                kind = pa.unify_schemas(single, promote_options="permissive").field(name).type
            except (pa.ArrowException, ValueError, TypeError):
                kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)  # pandas metadata dropped: it would not match mixed parts


def _conform(table: Any, schema: Any) -> Any:
    """Cast one part to ``schema``, adding all-null columns it lacks."""
    pa, _ = _arrow()
    if table.schema.equals(schema, check_metadata=True):
        return table
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if not column.type.equals(field.type):
            try:
                column = column.cast(field.type)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                if not pa.types.is_string(field.type):
                    raise _CastFailed(field.name) from exc
                values = [_as_text(v) for v in column.to_pylist()]
                column = pa.array(values, type=pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)
