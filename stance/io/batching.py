"""Grouping a reader's rows into batches, after the rows a resumed run already has."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

Row = TypeVar("Row")


def batched(
    rows: Iterable[Row], batch_size: int, skip_rows: int
) -> Iterator[tuple[list[Row], int]]:
    """The rows after the first ``skip_rows``, in lists of at most ``batch_size``, each with
    the 0-based position of its first row in ``rows``.

    >>> list(batched("abcde", 2, skip_rows=1))
    [(['b', 'c'], 1), (['d', 'e'], 3)]
    """
    position = 0  # rows seen so far
    batch: list[Row] = []
    for row in rows:
        position += 1
        if position <= skip_rows:
            continue
        batch.append(row)
        if len(batch) == batch_size:
            yield batch, position - len(batch)
            batch = []
    if batch:
        yield batch, position - len(batch)
