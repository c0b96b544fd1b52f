"""Batch scoring on Ray Data: ``stance score`` spread over a Ray cluster.

:class:`StanceScorer` is a callable class for :meth:`ray.data.Dataset.map_batches`: each
Ray actor loads the model once, then scores pandas or Arrow batches into the same
columns ``stance score`` writes (``label``, one ``p_<label>`` per label, ``error``),
computed by the same code (:func:`stance.scoring.score_frame`). :func:`score_dataset`
wires it up. Ray is an optional extra (``pip install 'claimstance[ray]'``); this module
imports Ray only inside :func:`score_dataset`, so :class:`StanceScorer` also works
without it, and torch only where a scorer loads its model, so the driver that builds the
pipeline does not load it.

>>> import ray  # doctest: +SKIP
>>> from stance.integrations.ray import score_dataset  # doctest: +SKIP
>>> ds = ray.data.read_parquet("pairs.parquet")  # doctest: +SKIP
>>> score_dataset(ds, concurrency=2).write_parquet("scored/")  # doctest: +SKIP

Ray Data does not keep row order unless
``ray.data.DataContext.get_current().execution_options.preserve_order = True``; keep an
id column to join the scores back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from stance.columns import (
    PAIR_OPTIONS,
    Columns,
    PairOptions,
    check_added,
    check_columns,
    columns_for_model,
    output_columns,
)
from stance.defaults import DEFAULT_BATCH_SIZE
from stance.errors import ConfigError
from stance.progress import transformers_quieted

if TYPE_CHECKING:
    import ray.data
    from typing_extensions import Unpack

    from stance.model import StanceClassifier

__all__ = ["RayNotInstalledError", "StanceScorer", "score_dataset"]

DEFAULT_ROWS_PER_CALL = 1024
"""Rows handed to one :meth:`StanceScorer.__call__` by :func:`score_dataset`."""


class RayNotInstalledError(ConfigError, ImportError):
    """Ray Data is needed but not installed (a :class:`ConfigError`, exit code 2)."""


class StanceScorer:
    """Score batches of (claim, response) rows; a callable class for ``map_batches``.

    The model is loaded once, in ``__init__`` (once per Ray actor). Calling the scorer
    with a :class:`pandas.DataFrame` returns a DataFrame, with a :class:`pyarrow.Table`
    a Table: the input columns followed by exactly the columns ``stance score`` adds.
    A row whose claim or response is missing, empty or not text keeps an ``error`` and
    no label, as in ``stance score``; a missing text column, or an input that already
    has an output column, raises :class:`stance.InputDataError`.

    Args:
        model: model directory or hub id; ``None`` is the shipped default model.
        batch_size: pairs per forward pass (``stance score --batch-size``).
        precision, max_length, device, label_map, pair_order: as for
            :meth:`StanceClassifier.load` (``label_map`` and ``pair_order`` read an NLI
            model whose label names say nothing, see ``stance.label_mapping``).
        column_options: ``claim_column``, ``response_column`` (the text columns),
            ``context_column`` (the post each response answers, for a model trained with
            context: ``stance score --context-column``; dotted names reach into dict
            columns; a model trained without context ignores it with a
            ``ContextWarning``), ``prefix`` (for the added column names: ``stance score
            --prefix``), or all of them as a :class:`~stance.columns.Columns` in
            ``columns``.

    >>> scorer = StanceScorer("my-model", precision="fp32")  # doctest: +SKIP
    >>> scorer(pd.DataFrame({"claim": ["Prices rose."], "response": ["No."]}))  # doctest: +SKIP
              claim response   label  p_support  p_denial  p_neutral error
    0  Prices rose.      No.  denial       0.02      0.95       0.03
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        precision: str = "auto",
        max_length: int | None = None,
        device: str | None = None,
        label_map: Mapping[str, str] | None = None,
        pair_order: str | None = None,
        **column_options: Unpack[PairOptions],
    ) -> None:
        from stance.model import StanceClassifier

        self.columns = Columns.from_options(column_options, PAIR_OPTIONS)  # checked per batch
        with transformers_quieted():
            self.clf: StanceClassifier = StanceClassifier.load(
                model,
                max_length=max_length,
                batch_size=batch_size,
                precision=precision,
                device=device,
                label_map=label_map,
                pair_order=pair_order,
            )
        self.scored_columns = columns_for_model(self.clf, self.columns, stacklevel=2)
        self.added = output_columns(self.clf.labels, self.columns.prefix)
        self.rows = 0
        self.truncated = 0

    def __call__(self, batch: Any) -> Any:
        """Score one batch; returns the same type (pandas DataFrame or pyarrow Table)."""
        from stance.model import warn_truncated
        from stance.scoring import score_frame

        arrow = not isinstance(batch, pd.DataFrame)
        if arrow and not hasattr(batch, "to_pandas"):
            raise ConfigError(
                f"StanceScorer takes a pandas DataFrame or a pyarrow Table, got "
                f"{type(batch).__name__}; pass batch_format='pandas' or 'pyarrow' to map_batches"
            )
        frame = batch.to_pandas() if arrow else batch
        found = [str(c) for c in frame.columns]
        check_columns(found, self.columns, "the batch")
        check_added(found, self.added, "the batch")
        scored, truncated = score_frame(frame, self.clf, columns=self.scored_columns)
        self.rows += len(scored)
        self.truncated += truncated
        fix = "Pass a larger max_length to StanceScorer or score_dataset if the cut text matters."
        warn_truncated(truncated, len(scored), self.clf.max_length, fix=fix, stacklevel=2)
        if not arrow:
            return scored
        from stance.io import arrow_table  # the conversion stance score uses for Parquet

        return arrow_table(scored)


def score_dataset(
    dataset: ray.data.Dataset,
    model: str | os.PathLike[str] | None = None,
    *,
    concurrency: int = 1,
    num_cpus: float = 1,
    num_gpus: float = 0,
    rows_per_call: int = DEFAULT_ROWS_PER_CALL,
    batch_format: str = "pandas",
    batch_size: int = DEFAULT_BATCH_SIZE,
    precision: str = "auto",
    max_length: int | None = None,
    label_map: Mapping[str, str] | None = None,
    pair_order: str | None = None,
    **column_options: Unpack[PairOptions],
) -> ray.data.Dataset:
    """Add the ``stance score`` columns to a Ray dataset, with ``concurrency`` actors.

    Each actor reserves ``num_cpus`` CPUs (and ``num_gpus`` GPUs) and loads the model
    once. ``label_map``, ``pair_order`` and ``column_options`` are those of
    :class:`StanceScorer`. The result is lazy,
    like every Ray dataset: write it with ``.write_parquet(folder)`` or consume it. Row
    order is kept only when Ray Data is told to (``execution_options.preserve_order``).

    >>> ds = ray.data.read_parquet("pairs.parquet")  # doctest: +SKIP
    >>> scored = score_dataset(ds, concurrency=2)  # doctest: +SKIP
    >>> scored.write_parquet("scored/")  # doctest: +SKIP
    """
    data = require_ray()
    _check_positive("concurrency", concurrency)
    _check_positive("rows_per_call", rows_per_call)
    if batch_format not in ("pandas", "pyarrow"):
        raise ConfigError(f"batch_format must be 'pandas' or 'pyarrow', got {batch_format!r}")
    columns = Columns.from_options(column_options, PAIR_OPTIONS)
    schema = dataset.schema(fetch_if_missing=False)  # known without running, e.g. Parquet
    if schema is not None:  # fail before any actor loads the model; p_* columns per batch
        found = [str(name) for name in schema.names]
        check_columns(found, columns, "the dataset")
        check_added(found, [f"{columns.prefix}label", f"{columns.prefix}error"], "the dataset")
    return dataset.map_batches(
        StanceScorer,
        fn_constructor_args=(model,),
        fn_constructor_kwargs={
            "columns": columns,
            "batch_size": batch_size,
            "precision": precision,
            "max_length": max_length,
            "label_map": label_map,
            "pair_order": pair_order,
        },
        compute=data.ActorPoolStrategy(size=concurrency),
        batch_size=rows_per_call,
        batch_format=batch_format,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def require_ray() -> Any:
    """Import and return :mod:`ray.data`, or say how to install it.

    Raises :class:`RayNotInstalledError` (an ``ImportError`` and a ``ConfigError``).
    """
    try:
        import ray.data
    except ImportError as exc:
        raise RayNotInstalledError(
            "scoring on Ray needs Ray Data, which is not installed "
            f"({exc}); install it with: pip install 'claimstance[ray]'"
        ) from exc
    return ray.data
