"""What the training data's licences allow: one class per source licence text.

A trained model's weights may carry the terms of the data it was trained on. The
classes, from the most to the least restrictive:

- ``non-commercial``: a licence with a non-commercial clause (CC BY-NC, CC BY-NC-SA);
- ``none stated``: no licence is stated for the data (terms unknown: treat as all rights
  reserved), or the card only points at a repository;
- ``other terms``: a named agreement that is neither of the others (e.g. C-UDA), or rows
  made from several sources;
- ``share-alike``: CC BY-SA and similar (derivatives under the same licence);
- ``permissive``: MIT, Apache-2.0, BSD, CC BY, CC0, public domain.

>>> licence_class("CC BY-NC-SA 3.0")
'non-commercial'
>>> licence_class("none stated (repo Apache-2.0)")
'none stated'
>>> licence_class("MIT (e-SNLI)")
'permissive'
>>> licence_class("CC BY-SA 4.0")
'share-alike'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

CLASSES = ("permissive", "share-alike", "other terms", "none stated", "non-commercial")
RESTRICTED = ("non-commercial", "none stated")
"""Classes that ``stance train`` warns about: commercial use of the weights is not clear."""

_NON_COMMERCIAL = re.compile(r"\bNC\b|non-?commercial", re.IGNORECASE)
_NONE = re.compile(r"^\s*(none|not stated|no licen[cs]e|unknown|see\b)", re.IGNORECASE)
_SHARE_ALIKE = re.compile(r"\bSA\b|share-?alike|GPL", re.IGNORECASE)
_PERMISSIVE = re.compile(
    r"\bMIT\b|Apache|\bBSD\b|\bCC[- ]BY\b(?![- ]?(NC|SA|ND))|\bCC0\b|public domain",
    re.IGNORECASE,
)


class LicenceWarning(UserWarning):
    """A model was trained on data whose licence is non-commercial or not stated."""


def licence_class(licence: str | None) -> str:
    """The class of one source's licence text (see the module docstring)."""
    if not licence or not licence.strip():
        return "none stated"
    if _NON_COMMERCIAL.search(licence):
        return "non-commercial"
    if _NONE.search(licence):
        return "none stated"
    if _SHARE_ALIKE.search(licence):
        return "share-alike"
    if _PERMISSIVE.search(licence):
        return "permissive"
    return "other terms"


def rows_per_class(sources: Iterable[Mapping]) -> dict[str, int]:
    """Training rows per licence class from ``{"licence", "rows"}`` records (a model's
    provenance ``sources``), every class present, most permissive first.

    >>> rows_per_class([{"licence": "MIT", "rows": 10}, {"licence": None, "rows": 5}])
    {'permissive': 10, 'share-alike': 0, 'other terms': 0, 'none stated': 5, 'non-commercial': 0}
    """
    counts = dict.fromkeys(CLASSES, 0)
    for source in sources:
        counts[licence_class(source.get("licence"))] += int(source.get("rows", 0))
    return counts


def restricted_sources(sources: Iterable[Mapping]) -> list[str]:
    """Names of the sources whose licence is non-commercial or not stated."""
    return [s["name"] for s in sources if licence_class(s.get("licence")) in RESTRICTED]


def summary(sources: Iterable[Mapping]) -> str:
    """One paragraph for a model card: training rows per licence class, and what follows.

    >>> summary([{"name": "a", "licence": "MIT", "rows": 10}])[:49]
    'Training rows per licence class: permissive 10 (1'
    >>> summary([{"name": "b", "licence": None, "rows": 5}]).split(". ")[1][:40]
    'Sources with a non-commercial licence or'

    """
    sources = list(sources)
    counts = rows_per_class(sources)
    total = sum(counts.values()) or 1
    parts = [f"{name} {n:,} ({n / total:.0%})" for name, n in counts.items() if n]
    text = "Training rows per licence class: " + ", ".join(parts) + "."
    restricted = restricted_sources(sources)
    if restricted:
        text += (
            " Sources with a non-commercial licence or none stated ("
            + ", ".join(restricted)
            + ") mean the weights may carry their terms: check them before commercial use, "
            "or retrain on permissive and share-alike sources only."
        )
    elif counts["other terms"]:
        text += " Some sources have other terms: read them before use."
    else:
        text += " Every source states a permissive or share-alike licence."
    return text
