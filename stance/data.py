"""Labelled training data: read sources, map labels, filter, cap, weight, split.

>>> from stance.training_config import SourceConfig
>>> labels = ("support", "denial", "neutral")
>>> frame = load_source(SourceConfig(path="train.csv"), labels)  # doctest: +SKIP
>>> list(frame.columns)  # doctest: +SKIP
['claim', 'response', 'context', 'label', 'source']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stance import io
from stance.columns import (
    Columns,
    check_columns,
    check_nested_key,
    column_values,
    context_values,
    filter_texts,
    row_problems,
)
from stance.errors import InputDataError, did_you_mean
from stance.labels import LabelMapping
from stance.training_config import SourceConfig

COLUMNS = ["claim", "response", "context", "label", "source"]
"""The columns of :func:`load_source`; ``context`` is ``None`` where a row has none."""


def read_table(path: Path, split: str | None = None) -> pd.DataFrame:
    """Read a whole labelled file (any :mod:`stance.io` format) or a saved HF dataset."""
    if path.is_dir():
        return _read_saved_dataset(path, split)
    if not path.exists():
        raise InputDataError(f"data file not found: {path}")
    frames = list(io.iter_batches(path, batch_size=65536))
    if not frames:
        return pd.DataFrame(columns=io.read_columns(path))
    return pd.concat(frames, ignore_index=True)


def _read_saved_dataset(path: Path, split: str | None) -> pd.DataFrame:
    try:
        import datasets
    except ImportError:
        raise InputDataError(
            f"{path} is a folder; reading a saved Hugging Face dataset needs `datasets`: "
            "pip install datasets"
        ) from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError:
        raise InputDataError(
            f"{path} is a folder but not a dataset saved with save_to_disk; point the source "
            "at a CSV, JSONL or Parquet file, or at a saved dataset"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        if split is None:
            raise InputDataError(
                f"expected a Dataset, got a DatasetDict with splits {list(loaded)} at {path}; "
                f"add `split: {next(iter(loaded))}` to the source"
            )
        if split not in loaded:
            raise InputDataError(
                f"{path} has no split {split!r}; splits: {list(loaded)}."
                f"{did_you_mean(split, loaded)}"
            )
        loaded = loaded[split]
    return loaded.to_pandas()


def load_source(
    source: SourceConfig,
    labels: Sequence[str],
    seed: int = 42,
    data_dir: str | None = None,
    resolve: Any = None,
) -> pd.DataFrame:
    """Read one source into ``claim, response, context, label, source`` rows (mapped,
    filtered, capped, balanced and weighted as its config says).

    Rows with missing or empty text fail loudly with their count, since silently
    dropping them would change the data a model is trained on. ``context`` holds the
    source's ``context_column`` (``None`` where a row has no context, and in every row
    of a source without one). Filters compare values as text (:mod:`stance.columns`).
    """
    path = resolve(source.path) if resolve else Path(source.path)
    where = f"source {source.display_name()!r} ({path})"
    if not path.exists():
        base = f"data_dir ({data_dir})" if data_dir else f"the current folder ({Path.cwd()})"
        raise InputDataError(
            f"data file not found: {path} (source {source.display_name()!r}); its path is "
            f"relative to {base}. Point the config at your copy with the override "
            "data_dir=/path/to/data (`stance train CONFIG data_dir=/path/to/data`), or fix "
            "the source's path"
        )
    frame = read_table(path, source.split)
    columns = source.columns
    fix = "Fix the source's {key}."
    check_columns(list(map(str, frame.columns)), columns, where, labelled=True, fix=fix)
    frame = _filtered(frame, source, where)
    contexts = _contexts(frame, columns, where)
    mapping = LabelMapping(columns.label_map, labels)
    out = pd.DataFrame(
        {
            "claim": column_values(frame, columns.claim, where).to_numpy(dtype=object),
            "response": column_values(frame, columns.response, where).to_numpy(dtype=object),
            "context": pd.Series(contexts, dtype=object).to_numpy(),
            "label": mapping.apply(column_values(frame, columns.label, where).tolist(), where),
            "source": source.display_name(),
        },
        columns=COLUMNS,
    )
    problems = row_problems({"claim": out["claim"], "response": out["response"]})
    _refuse_unusable(problems, where, "a missing, empty or non-text claim or response")
    return _drawn(out, source, seed)


def _filtered(frame: pd.DataFrame, source: SourceConfig, where: str) -> pd.DataFrame:
    """The rows every filter of ``source`` keeps; a filter that keeps none fails."""
    for key, allowed in source.columns.filters.items():
        values = filter_texts(frame, key, where)
        keep = values.isin(allowed)
        if not keep.any():
            present = values.value_counts().head(10).to_dict()
            raise InputDataError(
                f"{where}: filter {key}={source.filter[key]!r} keeps no rows; values "
                f"present: {present}"
            )
        frame = frame[keep.to_numpy()]
    return frame


def _contexts(frame: pd.DataFrame, columns: Columns, where: str) -> list[str | None]:
    """Each row's context (``None``: none); a value that is not text fails."""
    if not columns.context:
        return [None] * len(frame)
    check_nested_key(frame, columns.context, where, "Fix the source's context_column.")
    values = column_values(frame, columns.context, where).tolist()
    problems = row_problems({"context": values})
    _refuse_unusable(problems, where, "a context that is neither text nor missing")
    return context_values(values)[0]


def _refuse_unusable(problems: Sequence[str], where: str, what: str) -> None:
    """Fail when a row has a problem (:func:`stance.columns.row_problems`): training data
    is never dropped silently."""
    bad = [i for i, problem in enumerate(problems) if problem]
    if bad:
        raise InputDataError(
            f"{where}: {len(bad)} rows have {what} (first at row {bad[0]}: "
            f"{problems[bad[0]]}); clean them or add a filter that excludes them"
        )


def _drawn(frame: pd.DataFrame, source: SourceConfig, seed: int) -> pd.DataFrame:
    """The rows the source's ``max_rows``, ``balance_classes`` and ``weight`` draw."""
    rng = np.random.default_rng(seed)
    if source.max_rows is not None and len(frame) > source.max_rows:
        frame = frame.iloc[np.sort(rng.choice(len(frame), source.max_rows, replace=False))]
    if source.balance_classes:
        frame = balance_classes(frame, rng)
    if source.weight != 1.0:
        frame = reweight(frame, source.weight, rng)
    return frame.reset_index(drop=True)


def balance_classes(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Resample so every label present has the mean count (down- or up-sampled)."""
    counts = frame["label"].value_counts()
    target = int(round(counts.mean()))
    parts = []
    for label in counts.index:
        rows = np.flatnonzero((frame["label"] == label).to_numpy())
        chosen = rng.choice(rows, target, replace=len(rows) < target)
        parts.append(np.sort(chosen))
    return frame.iloc[np.concatenate(parts)]


def reweight(frame: pd.DataFrame, weight: float, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``round(weight * len(frame))`` rows: whole repeats, then a random remainder."""
    target = int(round(weight * len(frame)))
    whole, rest = divmod(target, len(frame))
    index = np.concatenate(
        [np.tile(np.arange(len(frame)), whole), rng.choice(len(frame), rest, replace=False)]
    )
    return frame.iloc[np.sort(index)]


def keep_share(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """A seeded ``fraction`` of ``frame``'s rows (at least one), in their order; with one
    seed a smaller share is a subset of a larger one, so a learning curve adds rows.

    >>> frame = pd.DataFrame({"x": range(8)})
    >>> keep_share(frame, 0.25, seed=0)["x"].tolist(), keep_share(frame, 0.5, seed=0)["x"].tolist()
    ([2, 4], [2, 3, 4, 6])
    """
    order = np.random.default_rng(seed).permutation(len(frame))
    keep = np.sort(order[: max(1, round(len(frame) * fraction))])
    return frame.iloc[keep].reset_index(drop=True)


def offtopic_pairs(
    frame: pd.DataFrame,
    rows: int,
    label: str,
    seed: int = 42,
    tries: int = 20,
    min_content_words: int = 5,
) -> pd.DataFrame:
    """Pair ``rows`` distinct claims of ``frame`` with responses from another source
    that share no content word with the claim, all labelled ``label``.

    A response from another dataset that states something (at least
    ``min_content_words`` content words) is about something else, so it neither
    supports nor denies the claim. Short reactions ("Not true.", "Nonsense.") are never
    drawn: they deny whatever they answer. Rows whose claim finds no such response in
    ``tries`` draws are left out. Needs at least two sources. The pairs have no context.

    >>> frame = pd.DataFrame({"claim": ["Prices rose.", "The team won."],
    ...     "response": ["Inflation went up.", "They lost."], "label": ["support", "denial"],
    ...     "source": ["economy", "sport"]})
    >>> pairs = offtopic_pairs(frame, 2, "neutral", min_content_words=1)
    >>> pairs[["claim", "response", "label"]].values.tolist()
    [['Prices rose.', 'They lost.', 'neutral'], ['The team won.', 'Inflation went up.', 'neutral']]
    """
    from stance.documents import content_words

    sources = frame["source"].to_numpy()
    if len(set(sources)) < 2:
        raise InputDataError(
            "off-topic pairs take their responses from another source, but the training "
            f"mix has one source ({sources[0]!r}); add a source or remove `offtopic`"
        )
    rng = np.random.default_rng(seed)
    first = frame.drop_duplicates("claim")
    chosen = first.iloc[np.sort(rng.permutation(len(first))[:rows])]
    responses = frame["response"].to_numpy()
    response_words = [content_words(r) for r in responses]
    stating = np.flatnonzero([len(words) >= min_content_words for words in response_words])
    if not len(stating):
        raise InputDataError(
            f"off-topic pairs need responses with at least {min_content_words} content words; "
            "the training mix has none: lower offtopic.min_content_words"
        )
    out = []
    for claim, source in zip(chosen["claim"], chosen["source"], strict=True):
        words = content_words(claim)
        for candidate in rng.choice(stating, tries):
            if sources[candidate] != source and not words & response_words[candidate]:
                out.append((claim, responses[candidate]))
                break
    return pd.DataFrame(
        {
            "claim": [c for c, _ in out],
            "response": [r for _, r in out],
            "context": [None] * len(out),
            "label": label,
            "source": "offtopic",
        },
        columns=COLUMNS,
    )


def split_by_claim(
    frame: pd.DataFrame, fraction: float, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out about ``fraction`` of rows, grouped by claim text (no claim in both)."""
    from sklearn.model_selection import GroupShuffleSplit

    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    train_idx, val_idx = next(splitter.split(frame, groups=frame["claim"].to_numpy()))
    return frame.iloc[train_idx].reset_index(drop=True), frame.iloc[val_idx].reset_index(drop=True)
