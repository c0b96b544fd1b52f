"""What a long job tells its user while it runs: its progress bar, how many pairs were
cut to fit the model, and nothing from transformers.

Torch-free; tqdm and transformers are imported only when a bar is made or a model is
loaded quietly.

>>> truncation_message(2, 16, total=3)
'2 of 3 pairs are longer than max_length=16 tokens; their responses were cut (claims kept whole).'
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["progress_bar", "transformers_quieted", "truncation_message"]


def progress_bar(
    total: int | None, *, desc: str, unit: str, initial: int = 0, enabled: bool = True
) -> Any:
    """A tqdm bar on stderr (a no-op bar when not ``enabled``); call ``update(n)`` and
    ``close()``.

    >>> bar = progress_bar(10, desc="scoring", unit="rows", enabled=False)
    >>> bar.update(10); bar.close()
    """
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit=f" {unit}",
        unit_scale=True,
        smoothing=0.1,
        dynamic_ncols=True,
        file=sys.stderr,
        desc=desc,
        disable=not enabled,
    )


def truncation_message(
    truncated: int, max_length: int, *, total: int | None = None, fix: str = ""
) -> str:
    """The one sentence (plus ``fix``) that says ``truncated`` pairs (of ``total``) were
    longer than ``max_length`` tokens and cut.

    >>> truncation_message(1200, 256, fix="Pass a larger --max-length.")
    '1,200 pairs are longer than max_length=256 tokens; their responses were cut (claims \
kept whole). Pass a larger --max-length.'
    """
    count = f"{truncated:,}" if total is None else f"{truncated:,} of {total:,}"
    return (
        f"{count} pairs are longer than max_length={max_length} tokens; their responses were "
        f"cut (claims kept whole).{' ' + fix if fix else ''}"
    )


@contextlib.contextmanager
def transformers_quieted() -> Iterator[None]:
    """Inside, transformers shows no progress bars and only errors (no load reports);
    after, its settings are what they were, so a library call changes nothing for the
    rest of the process.

    >>> with transformers_quieted():  # doctest: +SKIP
    ...     clf = StanceClassifier.load(path)
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
