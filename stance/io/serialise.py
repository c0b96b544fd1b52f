"""Value serialisers: DataFrames to CSV and JSON lines bytes and to Arrow tables, and the
text form of values a column must store as strings."""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from stance.io.files import pyarrow_modules


def csv_header(columns: list[str]) -> bytes:
    """The CSV header line of ``columns``, quoted as :func:`csv_bytes` quotes cells."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(columns)  # see csv_bytes
    return (buffer.getvalue()[:-2] + "\n").encode("utf-8", "backslashreplace")


def csv_bytes(frame: pd.DataFrame) -> bytes:
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
        return json.dumps({k: as_text(v) for k, v in record.items()}, ensure_ascii=False)


def jsonl_bytes(frame: pd.DataFrame) -> bytes:
    """One JSON object per row of ``frame`` (values made JSON-safe), UTF-8."""
    columns = [str(c) for c in frame.columns]
    lines = [
        _dumps({name: _json_value(value) for name, value in zip(columns, values, strict=True)})
        for values in frame.itertuples(index=False, name=None)
    ]
    text = "".join(line + "\n" for line in lines)
    return text.encode("utf-8", "backslashreplace")


def as_text(value: Any) -> str | None:
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


def arrow_table(frame: pd.DataFrame) -> Any:
    """``frame`` as the pyarrow Table ``stance score`` writes to Parquet: pandas'
    conversion, or column by column (mixed columns as text) where that fails."""
    pa, _ = pyarrow_modules()
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
            arrays.append(pa.array([as_text(v) for v in column], type=pa.string()))
    return pa.Table.from_arrays(arrays, names=names)
