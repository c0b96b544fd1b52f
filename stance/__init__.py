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
    from stance.calibration import CalibrationResult, calibrate
    from stance.documents import Aggregation, DocumentPrediction, Evidence
    from stance.evaluation import EvalResult, evaluate
    from stance.licences import LicenceWarning
    from stance.model import ContextWarning, StanceClassifier, TruncationWarning
    from stance.model_config import ModelConfig
    from stance.scoring import ScoreSummary, score_file
    from stance.training import train
    from stance.training_config import TrainConfig

__all__ = [
    "DEFAULT_LABELS",
    "Aggregation",
    "CalibrationResult",
    "ConfigError",
    "ContextWarning",
    "DocumentPrediction",
    "EvalResult",
    "Evidence",
    "InputDataError",
    "LicenceWarning",
    "ModelConfig",
    "ModelLoadError",
    "OutputError",
    "ScoreSummary",
    "StanceClassifier",
    "StanceError",
    "TrainConfig",
    "TruncationWarning",
    "__version__",
    "calibrate",
    "evaluate",
    "score_file",
    "train",
]

_LAZY = {
    "Aggregation": "stance.documents",
    "CalibrationResult": "stance.calibration",
    "ContextWarning": "stance.model",
    "DocumentPrediction": "stance.documents",
    "EvalResult": "stance.evaluation",
    "Evidence": "stance.documents",
    "LicenceWarning": "stance.licences",
    "ModelConfig": "stance.model_config",
    "ScoreSummary": "stance.scoring",
    "StanceClassifier": "stance.model",
    "TrainConfig": "stance.training_config",
    "TruncationWarning": "stance.model",
    "calibrate": "stance.calibration",
    "evaluate": "stance.evaluation",
    "score_file": "stance.scoring",
    "train": "stance.training",
}
"""Names imported from their module on first use (most of them import torch)."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stance' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazy ones included (for ``dir(stance)`` and completion)."""
    return sorted(set(globals()) | set(_LAZY))
