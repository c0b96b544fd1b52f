"""The JSON lines reader: one JSON object per line, values keep their JSON types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from stance.errors import InputDataError
from stance.io.batching import batched
from stance.io.encoding import encoding_error, reading
from stance.io.files import open_binary

_BOM = b"\xef\xbb\xbf"
_JSON_SPACE = " \t\r\n"  # the whitespace JSON allows around a value


def jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for every non-blank line of a JSONL file."""
    with open_binary(path) as f:
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
                raise encoding_error(path, (start + exc.start, number, bad)) from None
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


def jsonl_batches(path: Path, batch_size: int, skip_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of at most ``batch_size`` objects of the JSONL file ``path`` after
    ``skip_rows``; columns are every key seen so far, in order of first appearance."""
    columns: list[str] = []  # every key seen so far, in order of first appearance
    known: set[str] = set()

    def records_noting_keys() -> Iterator[dict[str, Any]]:
        for _, record in jsonl_records(path):
            if len(record) != len(known) or not known.issuperset(record):
                for key in record:
                    if key not in known:
                        known.add(key)
                        columns.append(key)
            yield record

    with reading(path):
        for records, first_row in batched(records_noting_keys(), batch_size, skip_rows):
            yield _object_frame(columns, records, first_row)


def _object_frame(columns: list[str], records: list[dict[str, Any]], start: int) -> pd.DataFrame:
    data = {name: [record.get(name) for record in records] for name in columns}
    index = pd.RangeIndex(start, start + len(records))
    return pd.DataFrame(data, index=index, columns=list(columns), dtype=object)
