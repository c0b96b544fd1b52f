"""The Parquet reader: row groups streamed in batches, whole groups skipped from the
metadata alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from stance.errors import InputDataError, StanceError
from stance.io.files import pyarrow_modules, read_error


@contextlib.contextmanager
def parquet_file(path: Path) -> Iterator[Any]:
    """Open a Parquet file, turning Arrow and OS errors into :class:`InputDataError`."""
    pa, pq = pyarrow_modules()
    try:
        with pq.ParquetFile(path) as pf:
            yield pf
    except StanceError:
        raise
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise read_error(path, exc) from exc
        raise InputDataError(
            f"cannot read {path} as Parquet ({exc}); expected a complete Parquet file. "
            "Check that it was written completely, or export it again."
        ) from exc


def parquet_batches(path: Path, batch_size: int, skip_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of at most ``batch_size`` rows of the Parquet file ``path`` after
    ``skip_rows`` (whole row groups before them are skipped unread)."""
    with parquet_file(path) as pf:
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
