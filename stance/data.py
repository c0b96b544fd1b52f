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
from stance.errors import InputDataError, did_you_mean
from stance.labels import LabelMapping
from stance.model import context_values, text_problem
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


def column_values(frame: pd.DataFrame, name: str, source: str) -> pd.Series:
    """A column of ``frame``, or for a dotted name ``a.b`` the key ``b`` inside the dict
    column ``a`` (missing where a row lacks it); ``source`` names the data in the error.

    >>> frame = pd.DataFrame({"text": ["x", "y"], "meta": [{"parent": "Source?"}, {}]})
    >>> column_values(frame, "meta.parent", "replies.jsonl").isna().tolist()
    [False, True]
    >>> column_values(frame, "txt", "replies.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stance.errors.InputDataError: replies.jsonl has no column 'txt'; ... Did you mean 'text'?
    """
    if name in frame.columns:
        return frame[name]
    head, _, rest = name.partition(".")
    if rest and head in frame.columns:
        return frame[head].map(lambda d: _dig(d, rest))
    raise InputDataError(
        f"{source} has no column {name!r}; columns found: {list(map(str, frame.columns))}."
        f"{did_you_mean(name, map(str, frame.columns))}"
    )


def check_nested_key(frame: pd.DataFrame, name: str, source: str, fix: str = "") -> None:
    """Fail when the dotted ``name`` (``a.b``) reaches into the dict column ``a`` but no row
    of ``frame`` holds the key ``b`` (a mistyped key would otherwise read as all missing).

    ``fix`` ends the message (e.g. how to pass another name). Plain column names, and
    rows that hold the key with a null value, pass.

    >>> frame = pd.DataFrame({"meta": [{"parent_text": None}, {"depth": 1}]})
    >>> check_nested_key(frame, "meta.parent_text", "replies.jsonl")
    >>> check_nested_key(frame, "meta.parent", "replies.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stance.errors.InputDataError: replies.jsonl has no column 'meta.parent': ... 'meta.parent_text'?
    """
    head, _, rest = name.partition(".")
    if name in frame.columns or not rest or head not in frame.columns or not len(frame):
        return
    parts = rest.split(".")
    found: set[str] = set()
    for value in frame[head]:
        for depth, part in enumerate(parts):
            if not isinstance(value, dict):
                break
            found.update(".".join([head, *parts[:depth], str(key)]) for key in value)
            if part not in value:
                break
            value = value[part]
        else:
            return
    shown = sorted(found)[:20]
    raise InputDataError(
        f"{source} has no column {name!r}: no row's {head!r} holds the key {rest!r}; "
        f"dotted names found: {shown}.{did_you_mean(name, found)}{' ' + fix if fix else ''}"
    )


def check_first_rows(path: Path, name: str, option: str, rows: int = 2048) -> None:
    """:func:`check_nested_key` on the first ``rows`` rows of the table file ``path``, so a
    dotted column name whose key no row holds fails before a model loads or output is
    written; ``option`` names the command-line option that passes the name."""
    batches = io.iter_batches(path, rows)
    try:
        first = next(batches, None)
    finally:
        batches.close()
    if first is not None:
        check_nested_key(first, name, str(path), f"Pass the right name with {option}.")


def _dig(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


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
    of a source without one).
    """
    path = resolve(source.path) if resolve else Path(source.path)
    name = source.display_name()
    where = f"source {name!r} ({path})"
    if not path.exists():
        base = f"data_dir ({data_dir})" if data_dir else f"the current folder ({Path.cwd()})"
        raise InputDataError(
            f"data file not found: {path} (source {name!r}); its path is relative to "
            f"{base}. Point the config at your copy with the override data_dir=/path/to/data "
            "(`stance train CONFIG data_dir=/path/to/data`), or fix the source's path"
        )
    frame = read_table(path, source.split)
    for key, wanted in source.filter.items():
        values = column_values(frame, key, where)
        allowed = wanted if isinstance(wanted, list) else [wanted]
        keep = values.isin(allowed)
        if not keep.any():
            present = values.astype(str).value_counts().head(10).to_dict()
            raise InputDataError(
                f"{where}: filter {key}={wanted!r} keeps no rows; values present: {present}"
            )
        frame = frame[keep.to_numpy()]
    claims = column_values(frame, source.claim_column, where)
    responses = column_values(frame, source.response_column, where)
    raw_labels = column_values(frame, source.label_column, where)
    contexts: list[str | None] = [None] * len(frame)
    if source.context_column:
        check_nested_key(frame, source.context_column, where, "Fix the source's context_column.")
        values = column_values(frame, source.context_column, where).tolist()
        contexts, problems = context_values(values)
        if problems:
            row, problem = problems[0]
            raise InputDataError(
                f"{where}: {len(problems)} rows have a context that is neither text nor "
                f"missing (first at row {row}: {problem}); clean them or add a filter that "
                "excludes them"
            )
    mapping = LabelMapping(source.label_map, labels)
    mapped = mapping.apply(raw_labels.tolist(), source=where)
    out = pd.DataFrame(
        {
            "claim": claims.to_numpy(dtype=object),
            "response": responses.to_numpy(dtype=object),
            "context": pd.Series(contexts, dtype=object).to_numpy(),
            "label": mapped,
            "source": name,
        },
        columns=COLUMNS,
    )
    bad = [
        i
        for i, (c, r) in enumerate(zip(out["claim"], out["response"], strict=True))
        if text_problem(c) or text_problem(r)
    ]
    if bad:
        raise InputDataError(
            f"{where}: {len(bad)} rows have a missing, empty or non-text claim or response "
            f"(first at row {bad[0]}); clean them or add a filter that excludes them"
        )
    rng = np.random.default_rng(seed)
    if source.max_rows is not None and len(out) > source.max_rows:
        out = out.iloc[np.sort(rng.choice(len(out), source.max_rows, replace=False))]
    if source.balance_classes:
        out = balance_classes(out, rng)
    if source.weight != 1.0:
        out = reweight(out, source.weight, rng)
    return out.reset_index(drop=True)


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
