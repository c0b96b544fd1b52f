"""A model's own label names mapped to stance labels, and the order it reads a pair in.

An NLI cross-encoder (``entailment`` / ``neutral`` / ``contradiction``, in any case and
order) is a stance model once its labels are mapped: entailment -> support, contradiction
-> denial, neutral -> neutral, and it reads the pair as (premise, hypothesis) =
(response, claim), i.e. ``pair_order="response_first"``. :func:`resolve` finds the
mapping from the model's ``id2label`` (or checks the one given), and :func:`apply`
permutes the head rows so that the model's outputs come in stance order (support,
denial, neutral: the labels it has); the model is then a plain stance model.

>>> resolve(("CONTRADICTION", "Neutral", "entailment")).label_map
{'CONTRADICTION': 'denial', 'Neutral': 'neutral', 'entailment': 'support'}
>>> resolve(("support", "denial", "neutral")) is None  # a stance model: nothing to map
True

Data and a head permutation only: nothing happens on import.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stance.errors import ConfigError, ModelLoadError, did_you_mean
from stance.labels import DEFAULT_LABELS
from stance.model_config import PAIR_ORDERS

NLI_NAMES: dict[str, str] = {
    **dict.fromkeys(("entailment", "entail", "entails", "entailed"), "support"),
    **dict.fromkeys(("contradiction", "contradict", "contradicts", "contradictory"), "denial"),
    **dict.fromkeys(("neutral", "not_entailment", "non_entailment", "not_entailed"), "neutral"),
}
"""Normalised NLI label names (see :func:`normalise`) -> stance label."""
NLI_PAIR_ORDER = "response_first"
"""NLI models read (premise, hypothesis): the response, then the claim."""
EXAMPLE = "--model-label-map entailment=support,contradiction=denial,neutral=neutral"


class TwoWayModelWarning(UserWarning):
    """The model has no label that maps to denial (a two-way entailment model)."""


@dataclass(frozen=True)
class LabelMapping:
    """``label_map`` (model label -> stance label) and the head rows in stance order.

    >>> LabelMapping({"e": "support", "c": "denial"}, ("c", "e")).order
    [1, 0]
    """

    label_map: dict[str, str]
    model_labels: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """The stance labels, in the documented order (other names after, as mapped)."""
        values = list(dict.fromkeys(self.label_map[name] for name in self.model_labels))
        known = [label for label in DEFAULT_LABELS if label in values]
        return tuple(known + [label for label in values if label not in known])

    @property
    def order(self) -> list[int]:
        """For each of :attr:`labels`, the model's output row that holds it."""
        rows = {self.label_map[name]: i for i, name in enumerate(self.model_labels)}
        return [rows[label] for label in self.labels]


def normalise(name: str) -> str:
    """A label name compared case- and separator-blind.

    >>> normalise("Not-Entailment")
    'not_entailment'
    """
    return "_".join(name.strip().lower().replace("-", " ").split())


def is_nli(labels: Sequence[str]) -> bool:
    """Whether every label is an NLI name and one of them is entailment.

    >>> is_nli(("ENTAILMENT", "not_entailment")), is_nli(("support", "denial"))
    (True, False)
    """
    mapped = [NLI_NAMES.get(normalise(name)) for name in labels]
    return all(mapped) and "support" in mapped and len(set(mapped)) == len(mapped)


def parse_label_map(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"entailment=support,contradiction=denial"`` (or a mapping) as a dict.

    >>> parse_label_map("entailment=support, contradiction=denial")
    {'entailment': 'support', 'contradiction': 'denial'}
    """
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return {str(k): str(v) for k, v in text.items()}
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, label = item.partition("=")
        if not sep or not name.strip() or not label.strip():
            raise ConfigError(
                f"a label map is NAME=LABEL pairs separated by commas, got {item!r} in "
                f"{text!r}; e.g. {EXAMPLE}"
            )
        out[name.strip()] = label.strip()
    return out


def check_pair_order(pair_order: str) -> str:
    """``pair_order`` if it is one of :data:`~stance.model_config.PAIR_ORDERS`.

    >>> check_pair_order("claim-first")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stance.errors.ConfigError: pair_order must be one of ... Did you mean 'claim_first'?
    """
    if pair_order not in PAIR_ORDERS:
        hint = did_you_mean(pair_order.replace("-", "_"), PAIR_ORDERS)
        raise ConfigError(
            f"pair_order must be one of {list(PAIR_ORDERS)}, got {pair_order!r}.{hint}"
        )
    return pair_order


def resolve(
    model_labels: Sequence[str],
    label_map: Mapping[str, str] | None = None,
    *,
    where: str = "the model",
) -> LabelMapping | None:
    """The mapping for a model with ``model_labels`` (its ``id2label`` in id order):
    ``label_map`` checked against them when given, else the NLI names recognised; ``None``
    when the labels need no mapping (already stance labels, or a model's own scheme).

    Raises :class:`~stance.errors.ModelLoadError` for placeholder names (``LABEL_0``...),
    which say nothing, and for a ``label_map`` that does not fit the model.

    >>> resolve(("LABEL_0", "LABEL_1", "LABEL_2"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stance.errors.ModelLoadError: the model's labels are placeholders ...
    """
    model_labels = tuple(model_labels)
    if label_map:
        return _checked(model_labels, dict(label_map), where)
    if all(name.startswith("LABEL_") for name in model_labels):
        found = dict(enumerate(model_labels))
        raise ModelLoadError(
            f"{where}'s labels are placeholders that say nothing about what each output "
            f"means: id2label = {found}. Pass the mapping from its documentation, e.g. "
            "StanceClassifier.load(path, label_map={'LABEL_0': 'denial', 'LABEL_1': "
            f"'neutral', 'LABEL_2': 'support'}}, pair_order='response_first') or {EXAMPLE}"
        )
    if not is_nli(model_labels):
        return None
    return LabelMapping({n: NLI_NAMES[normalise(n)] for n in model_labels}, model_labels)


def _checked(model_labels: tuple[str, ...], label_map: dict[str, str], where: str) -> LabelMapping:
    unknown = [name for name in label_map if name not in model_labels]
    if unknown:
        hint = "".join(did_you_mean(name, model_labels) for name in unknown)
        raise ModelLoadError(
            f"the label map names {unknown}, which {where} does not have; its labels are "
            f"{list(model_labels)}.{hint}"
        )
    missing = [name for name in model_labels if name not in label_map]
    if missing:
        raise ModelLoadError(
            f"the label map must map every label of {where} {list(model_labels)}; it leaves "
            f"out {missing}. e.g. {EXAMPLE}"
        )
    values = list(label_map.values())
    if len(set(values)) != len(values):
        raise ModelLoadError(
            f"the label map {label_map} maps two model labels to one stance label; each "
            "model label needs its own"
        )
    return LabelMapping(label_map, model_labels)


def apply(model: Any, mapping: LabelMapping, *, where: str = "the model") -> None:
    """Permute ``model``'s head rows into the order of ``mapping.labels`` and name them so
    (``id2label``/``label2id``); warn when no label maps to denial.

    >>> apply(model, resolve(labels_of(model.config)))  # doctest: +SKIP
    """
    reorder_head(model, mapping.order)
    labels = mapping.labels
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}
    if "denial" not in labels:
        warnings.warn(
            f"{where} has no label that maps to denial ({mapping.label_map}): it cannot say "
            f"denial, and reports only {list(labels)}",
            TwoWayModelWarning,
            stacklevel=5,  # apply, _with_mapping, load_model_dir, StanceClassifier.load
        )


def is_head_key(key: str) -> bool:
    """Whether a weight name belongs to the classification head.

    >>> is_head_key("classifier.out_proj.weight"), is_head_key("bert.encoder.layer.0")
    (True, False)
    """
    return key.startswith(("classifier", "score", "logits_proj")) or ".classifier." in key


def reorder_head(model: Any, order: list[int]) -> None:
    """Permute the output rows of the classification head: row ``i`` becomes the old row
    ``order[i]`` (so a head keeps what it learned for each label in another order)."""
    import torch

    if order == list(range(len(order))):
        return
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if is_head_key(name) and parameter.shape[0] == len(order):
                parameter.copy_(parameter[order].clone())


def relabel_head(model: Any, old_labels: Sequence[str], new_labels: Sequence[str]) -> list[str]:
    """Give ``model``'s classification head one output row per label of ``new_labels``.

    A new label that is, or is a kind of (:data:`~stance.labels.STANCE_OF`), one of
    ``old_labels`` starts from that label's row; any other starts from fresh weights, as
    transformers initialises a head. Every layer before the output rows is kept. Returns
    the new labels that started fresh.
    """
    import torch

    from stance.labels import STANCE_OF

    old_labels, new_labels = list(old_labels), list(new_labels)
    sources = [label if label in old_labels else STANCE_OF.get(label) for label in new_labels]
    rows = [old_labels.index(name) if name in old_labels else None for name in sources]
    config = model.config
    std = getattr(config, "initializer_range", 0.02)
    outputs = [
        (name, module)
        for name, module in model.named_modules()
        if is_head_key(name)
        and isinstance(module, torch.nn.Linear)
        and module.out_features == len(old_labels)
    ]
    if not outputs:
        raise ModelLoadError(
            f"found no output layer with {len(old_labels)} rows in the model's classification "
            "head, so its labels cannot be changed; start from its base model instead"
        )
    for name, old in outputs:
        new = torch.nn.Linear(old.in_features, len(new_labels), dtype=old.weight.dtype)
        with torch.no_grad():
            new.weight.normal_(0.0, std)
            new.bias.zero_()
            for i, row in enumerate(rows):
                if row is not None:
                    new.weight[i] = old.weight[row]
                    new.bias[i] = old.bias[row]
        new.weight.requires_grad_(old.weight.requires_grad)
        new.bias.requires_grad_(old.bias.requires_grad)
        parent, _, attribute = name.rpartition(".")
        setattr(model.get_submodule(parent), attribute, new)
    config.num_labels = len(new_labels)
    config.id2label = dict(enumerate(new_labels))
    config.label2id = {label: i for i, label in enumerate(new_labels)}
    return [label for label, row in zip(new_labels, rows, strict=True) if row is None]
