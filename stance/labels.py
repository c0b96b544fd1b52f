"""Label schemes and mappings from a dataset's own labels to a model's labels.

>>> DEFAULT_LABELS
('support', 'denial', 'neutral')
>>> mapping = LabelMapping({"agree": "support", "disagree": "denial", "discuss": "neutral"})
>>> mapping.apply(["agree", "discuss"])
['support', 'neutral']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from stance.errors import ConfigError, InputDataError

DEFAULT_LABELS: tuple[str, ...] = ("support", "denial", "neutral")
"""The library's default scheme, in the column order of ``predict_proba``."""

FNC1_LABELS: tuple[str, ...] = ("agree", "disagree", "discuss", "unrelated")
RUMOUREVAL_LABELS: tuple[str, ...] = ("support", "deny", "query", "comment")

SCHEMES: dict[str, tuple[str, ...]] = {
    "stance3": DEFAULT_LABELS,
    "fnc1": FNC1_LABELS,
    "rumoureval": RUMOUREVAL_LABELS,
}

STANCE_OF: dict[str, str] = {
    **{label: label for label in DEFAULT_LABELS},
    "agree": "support",
    "disagree": "denial",
    "discuss": "neutral",
    "unrelated": "neutral",
    "deny": "denial",
    "query": "neutral",
    "comment": "neutral",
}
"""The stance label that each label of the built-in schemes is a kind of (as the shared
data's ``label`` column maps ``orig_label``): a stance head's row for it is a fair start
when a stance model is retrained for that scheme."""


def validate_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Check a label list (non-empty distinct strings, at least two) and return it as a tuple.

    >>> validate_labels(["yes", "no"])
    ('yes', 'no')
    """
    if isinstance(labels, str):
        raise ConfigError(
            f"labels must be a list of label names, got the string {labels!r}; "
            f"write e.g. labels: [support, denial, neutral]"
        )
    labels = tuple(labels)
    bad = [label for label in labels if not isinstance(label, str) or not label.strip()]
    if bad:
        raise ConfigError(f"labels must be non-empty strings, got {bad!r} in {list(labels)!r}")
    if len(labels) < 2:
        raise ConfigError(f"a classifier needs at least two labels, got {list(labels)!r}")
    duplicates = [label for label, n in Counter(labels).items() if n > 1]
    if duplicates:
        raise ConfigError(f"labels must be distinct, got duplicates {duplicates!r}")
    return labels


def resolve_labels(labels: str | Sequence[str]) -> tuple[str, ...]:
    """Return labels from a scheme name (``stance3``, ``fnc1``, ``rumoureval``) or a list.

    >>> resolve_labels("fnc1")
    ('agree', 'disagree', 'discuss', 'unrelated')
    """
    if isinstance(labels, str):
        if labels not in SCHEMES:
            from stance.errors import did_you_mean

            raise ConfigError(
                f"unknown label scheme {labels!r}; expected one of {sorted(SCHEMES)} "
                f"or a list of label names.{did_you_mean(labels, SCHEMES)}"
            )
        return SCHEMES[labels]
    return validate_labels(labels)


class LabelMapping:
    """Maps a dataset's own labels onto a model's label set.

    Labels that already are target labels map to themselves unless the mapping says
    otherwise. Values with no mapping fail with their counts, so nothing is dropped
    silently.

    >>> LabelMapping({"pro": "support"}, labels=("support", "denial")).apply(["pro", "denial"])
    ['support', 'denial']
    """

    def __init__(
        self, mapping: Mapping[str, str] | None = None, labels: Sequence[str] = DEFAULT_LABELS
    ) -> None:
        self.labels = validate_labels(labels)
        self.mapping = dict(mapping or {})
        unknown_targets = sorted({v for v in self.mapping.values() if v not in self.labels})
        if unknown_targets:
            raise ConfigError(
                f"label mapping targets {unknown_targets} are not in the model's labels "
                f"{list(self.labels)}; map each source label to one of those"
            )

    def apply(self, values: Iterable[object], source: str = "the data") -> list[str]:
        """Map every value, or raise :class:`InputDataError` listing unmapped values and counts."""
        values = list(values)
        out: list[str] = []
        unmapped: Counter[str] = Counter()
        for value in values:
            key = str(value) if value is not None else "None"
            if key in self.mapping:
                out.append(self.mapping[key])
            elif key in self.labels:
                out.append(key)
            else:
                unmapped[key] += 1
        if unmapped:
            listing = ", ".join(f"{k!r} ({n} rows)" for k, n in unmapped.most_common(10))
            raise InputDataError(
                f"{source} has labels that are not in the model's labels {list(self.labels)} "
                f"and have no mapping: {listing}. Add them to the label mapping, e.g. "
                f"label_map: {{{next(iter(unmapped))!r}: {self.labels[-1]!r}}}"
            )
        return out
