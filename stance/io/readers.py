"""Reading any supported table file: column names, a cheap row count, and streamed
batches (dispatched to the CSV, JSONL or Parquet reader by the file's extension)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from stance.errors import ConfigError
from stance.io.csv_reader import check_header, csv_batches, csv_records
from stance.io.encoding import reading
from stance.io.files import BLOCK, input_is_empty, open_binary
from stance.io.formats import table_format
from stance.io.jsonl_reader import jsonl_batches, jsonl_records
from stance.io.parquet_reader import parquet_batches, parquet_file


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
    if input_is_empty(path):
        return []
    if fmt == "parquet":
        with parquet_file(path) as pf:
            return [str(name) for name in pf.schema_arrow.names]
    with reading(path):
        if fmt == "csv":
            with contextlib.closing(csv_records(path)) as records:
                first = next(records, None)
            if first is None:
                return []
            line, _, header = first
            check_header(path, line, header)
            return header
        with contextlib.closing(jsonl_records(path)) as objects:
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
    if input_is_empty(path):
        return 0
    if fmt == "parquet":
        with parquet_file(path) as pf:
            return int(pf.metadata.num_rows)
    with reading(path), open_binary(path) as f:
        if fmt == "jsonl":
            return _count_nonblank_lines(f)
        lines, last = 0, b""
        for block in iter(lambda: f.read(BLOCK), b""):
            lines += block.count(b"\n")
            last = block[-1:]
        if last and last != b"\n":
            lines += 1  # the last line has no line break
        return max(lines - 1, 0)


def _count_nonblank_lines(f: IO[bytes]) -> int:
    count = 0
    pending = False  # the line read so far (not yet ended by "\n") holds non-blank text
    for block in iter(lambda: f.read(BLOCK), b""):
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
    if input_is_empty(path):
        return iter(())
    readers = {"csv": csv_batches, "jsonl": jsonl_batches, "parquet": parquet_batches}
    return readers[fmt](path, batch_size, skip_rows)
