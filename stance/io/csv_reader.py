"""The CSV reader: UTF-8 text, every cell a string, errors naming the line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from stance.errors import InputDataError
from stance.io.batching import batched
from stance.io.encoding import reading
from stance.io.files import open_text

_CSV_FIELD_LIMIT = 2**31 - 1  # the csv module's default (128 KiB) is too small for long texts


def csv_records(path: Path) -> Iterator[tuple[int, int, list[str]]]:
    """Yield ``(first line, last line, fields)`` for every non-blank CSV record."""
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    with open_text(path) as f:
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


def check_header(path: Path, line: int, header: list[str]) -> None:
    """Refuse a CSV header that names a column twice (``line``: its 1-based line)."""
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputDataError(
                f"{path} line {line}: the header names the column '{name}' more than once; "
                "expected unique column names. Rename the duplicates."
            )
        seen.add(name)


def preview_names(names: list[str], limit: int = 6) -> str:
    """The first ``limit`` names for a message, with the count when there are more.

    >>> preview_names(list("abcdefgh"), limit=2)
    'a, b, ... (8 in all)'
    """
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def csv_batches(path: Path, batch_size: int, skip_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of at most ``batch_size`` rows of the CSV file ``path`` (all text), after
    ``skip_rows`` rows; the index holds the global row positions."""
    with reading(path):
        records = csv_records(path)
        first = next(records, None)
        if first is None:
            return
        line, _, columns = first
        check_header(path, line, columns)

        def checked_rows() -> Iterator[list[str]]:
            for start, end, fields in records:
                if len(fields) != len(columns):
                    raise InputDataError(
                        f"{_where(path, start, end)}: expected {len(columns)} fields, one per "
                        f"header column ({preview_names(columns)}), got {len(fields)}. Quote "
                        'fields that contain commas ("a, b"), or fix the row.'
                    )
                yield fields

        for rows, first_row in batched(checked_rows(), batch_size, skip_rows):
            yield _text_frame(columns, rows, first_row)


def _text_frame(columns: list[str], rows: list[list[str]], start: int) -> pd.DataFrame:
    by_column = zip(*rows, strict=True)
    data = {name: list(values) for name, values in zip(columns, by_column, strict=True)}
    index = pd.RangeIndex(start, start + len(rows))
    return pd.DataFrame(data, index=index, columns=columns, dtype=str)
