"""stance: does a response support, deny or stay neutral towards a claim?

>>> from stance import StanceClassifier
>>> clf = StanceClassifier.load()  # doctest: +SKIP
>>> clf.predict([("The Kharkiv offensive has failed.", "No, it doesn't.")])  # doctest: +SKIP
['denial']

Heavy dependencies (torch, transformers) are imported on first use, so ``import stance``
and ``stance --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stance._version import __version__
from stance.errors import (
    ConfigError,
    InputDataError,
    ModelLoadError,
    OutputError,
    StanceError,
)
from stance.labels import DEFAULT_LABELS

if TYPE_CHECKING:
    from stance.licences import LicenceWarning
    from stance.model import ContextWarning, StanceClassifier, TruncationWarning
    from stance.training import train

__all__ = [
    "DEFAULT_LABELS",
    "ConfigError",
    "ContextWarning",
    "InputDataError",
    "LicenceWarning",
    "ModelLoadError",
    "OutputError",
    "StanceClassifier",
    "StanceError",
    "TruncationWarning",
    "__version__",
    "train",
]

_LAZY = {
    "ContextWarning": "stance.model",
    "LicenceWarning": "stance.licences",
    "StanceClassifier": "stance.model",
    "TruncationWarning": "stance.model",
    "train": "stance.training",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stance' has no attribute {name!r}")
