"""Format detection: which table format a file name stands for, and whether it is gzipped."""

from __future__ import annotations

import os
from pathlib import Path

from stance.errors import ConfigError, did_you_mean

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
    suffix = table_suffix(name)
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


def table_suffix(name: str) -> str:
    """The extension that decides a table's format, with ``.gz`` and the one before it.

    >>> table_suffix("scored.jsonl.gz"), table_suffix("scored.CSV")
    ('.jsonl.gz', '.CSV')
    """
    suffixes = Path(name).suffixes
    if not suffixes:
        return ""
    if suffixes[-1] == ".gz" and len(suffixes) > 1:
        return "".join(suffixes[-2:])
    return suffixes[-1]
