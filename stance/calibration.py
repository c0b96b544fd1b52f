"""Temperature scaling: fit one temperature on labelled validation data, store it.

:class:`~stance.StanceClassifier` divides its logits by ``temperature`` (read from the
model directory's ``stance_config.json``) before the softmax. :func:`fit_temperature`
finds the temperature that minimises the negative log-likelihood of
``softmax(logits / T)`` on held-out labelled pairs; it changes confidence, never the
predicted label.

>>> result = calibrate("dev.jsonl", "runs/my-model", filters={"split": "dev"})  # doctest: +SKIP
>>> result.temperature, result.before["nll"], result.after["nll"]  # doctest: +SKIP
(1.83, 0.71, 0.58)

The shipped default model is never changed in place: pass ``output_model`` to write a
calibrated copy (with :meth:`StanceClassifier.save`).
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stance import metrics, modeldir
from stance.columns import LABELLED_OPTIONS, Columns, LabelledOptions, columns_for_model
from stance.defaults import DEFAULT_BATCH_SIZE
from stance.errors import ConfigError, InputDataError, OutputError
from stance.model_config import ModelConfig

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "TEMPERATURE_BOUNDS",
    "CalibrationResult",
    "calibrate",
    "fit_temperature",
    "logits_of",
    "temperature_nll",
    "write_temperature",
]

TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The search range of the temperature (searched on log T)."""

BEHAVIOURAL_SUITE = Path(__file__).resolve().parent.parent / "eval" / "behavioural" / "suite.jsonl"


@dataclass
class CalibrationResult:
    """What :func:`calibrate` fitted and where it wrote it.

    ``before`` is measured at the model's previous temperature, ``after`` at the new one;
    both hold ``nll`` and ``ece`` on the calibration rows.
    """

    temperature: float
    previous_temperature: float
    n: int
    before: dict[str, float]
    after: dict[str, float]
    model_dir: Path
    excluded: dict[str, int] = field(default_factory=dict)
    at_bound: bool = False


def temperature_nll(logits: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of ``gold`` under ``softmax(logits / temperature)``.

    >>> round(temperature_nll(np.array([[2.0, 0.0]]), np.array([0]), 1.0), 4)
    0.1269
    """
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(z)), np.asarray(gold)]))


def fit_temperature(
    logits: np.ndarray,
    gold: np.ndarray,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> float:
    """The temperature minimising :func:`temperature_nll`, searched on log T within ``bounds``.

    ``logits`` may be any row-wise shift of the logits (log-probabilities at T=1 work).

    >>> logits = np.array([[4.0, 0.0], [4.0, 0.0], [0.0, 4.0], [0.0, 4.0]])
    >>> fit_temperature(logits, np.array([0, 1, 1, 1])) > 1  # overconfident: T grows
    True
    """
    try:
        from scipy.optimize import minimize_scalar
    except ImportError:
        raise ConfigError("calibration needs scipy: pip install scipy") from None

    logits = np.asarray(logits, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.int64)
    if logits.ndim != 2 or len(logits) != len(gold) or not len(gold):
        raise InputDataError(
            f"need logits of shape (n, n_labels) and n gold labels, n >= 1; got "
            f"{logits.shape} and {gold.shape}"
        )
    low, high = bounds
    if not 0 < low < high:
        raise ConfigError(f"temperature bounds must satisfy 0 < low < high, got {bounds}")
    found = minimize_scalar(
        lambda log_t: temperature_nll(logits, gold, float(np.exp(log_t))),
        bounds=(float(np.log(low)), float(np.log(high))),
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(found.x))


def logits_of(
    model: Any,
    claims: list[str],
    responses: list[str],
    progress: bool = False,
    contexts: list[str | None] | None = None,
) -> np.ndarray:
    """Logits up to a row-wise constant: ``log(predict_proba)`` at temperature 1, whatever
    the model's own (which is left as it is). ``contexts``: see
    :func:`stance.evaluation.predict_probabilities`.
    """
    from stance.evaluation import predict_probabilities

    at_one = model.with_settings(temperature=1.0) if hasattr(model, "with_settings") else model
    probabilities, _ = predict_probabilities(
        at_one, claims, responses, progress=progress, contexts=contexts
    )
    return np.log(np.maximum(probabilities, np.finfo(np.float64).tiny))


def _scores(logits: np.ndarray, gold: np.ndarray, temperature: float) -> dict[str, float]:
    from stance.inference import softmax

    probabilities = softmax(logits, temperature)
    return {
        "nll": metrics.nll(probabilities, gold),
        "ece": metrics.ece(probabilities, gold),
    }


def _is_default(model: str | os.PathLike[str] | None) -> bool:
    if model is None:
        return True
    path = Path(os.fspath(model)).expanduser()
    return path.is_dir() and path.resolve() == modeldir.DEFAULT_MODEL_DIR.resolve()


def _check_destination(
    model: str | os.PathLike[str] | None, output_model: str | os.PathLike[str] | None
) -> None:
    """Refuse what calibration must not do, before any work."""
    if output_model is not None:
        out = Path(output_model).expanduser()
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise OutputError(
                f"--output-model {out} already exists and is not an empty folder; pass a new "
                "folder for the calibrated copy"
            )
        if model is not None and Path(os.fspath(model)).expanduser().resolve() == out.resolve():
            raise OutputError(
                "--output-model is the model folder itself; omit it to calibrate in place"
            )
        return
    if _is_default(model):
        raise ConfigError(
            "refusing to change the packaged default model in place; pass --output-model DIR "
            "to write a calibrated copy (then use --model DIR)"
        )
    if not Path(os.fspath(model)).expanduser().is_dir():
        raise ConfigError(
            f"{model} is not a local model folder, so its temperature cannot be stored in "
            "place; pass --output-model DIR to write a calibrated copy"
        )


def _check_not_suite(path: Path) -> None:
    resolved = path.resolve()
    if resolved == BEHAVIOURAL_SUITE or (
        resolved.name == "suite.jsonl" and resolved.parent.name == "behavioural"
    ):
        raise ConfigError(
            f"{path} is the behavioural test suite, which is held out of every training and "
            "calibration mix; calibrate on a validation split instead"
        )


def write_temperature(
    model_dir: str | os.PathLike[str],
    temperature: float,
    record: Mapping[str, Any] | None = None,
) -> Path:
    """Store ``temperature`` (and a ``calibration`` record) in ``model_dir``'s stance_config.json.

    Other keys are kept; the file is replaced atomically.

    >>> write_temperature("runs/my-model", 1.7)  # doctest: +SKIP
    PosixPath('runs/my-model/stance_config.json')
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        raise OutputError(f"model folder not found: {folder}")
    config = ModelConfig.read(folder).replace(temperature=float(temperature))
    if record is not None:
        config = config.replace(calibration=dict(record))
    return config.write(folder)


def _record_reading(folder: Path, classifier: Any) -> None:
    """Record in ``folder`` how ``classifier`` reads its model (``label_map`` and
    ``pair_order``, e.g. given on the command line), so it reloads the same way."""
    reading = getattr(classifier, "config", None)
    if not isinstance(reading, ModelConfig) or not reading.label_map:
        return
    saved = ModelConfig.read(folder)
    if (saved.label_map, saved.pair_order) != (reading.label_map, reading.pair_order):
        saved.replace(label_map=reading.label_map, pair_order=reading.pair_order).write(folder)


def calibrate(
    data: str | os.PathLike[str],
    model: str | os.PathLike[str] | None = None,
    *,
    output_model: str | os.PathLike[str] | None = None,
    precision: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
    classifier: Any = None,
    **column_options: Unpack[LabelledOptions],
) -> CalibrationResult:
    """Fit a temperature on the labelled file ``data`` and store it with the model.

    ``model`` is a model folder (``None``: the default model, which needs
    ``output_model``). With ``output_model`` the calibrated model is saved there as a
    full copy and ``model`` is left as it was. ``classifier`` passes an already loaded
    :class:`~stance.StanceClassifier` of ``model``; it is never changed (threads may be
    using it): load the calibrated folder to predict with the new temperature. The column
    options (``claim_column``, ``label_map``, ``filters``, ``context_column``, ...) are
    those of
    :func:`stance.evaluation.evaluate`.

    >>> calibrate("dev.csv", "runs/m", output_model="runs/m-calibrated")  # doctest: +SKIP
    """
    from stance.evaluation import check_columns, read_labelled

    data = Path(data)
    _check_not_suite(data)
    _check_destination(model, output_model)
    columns = Columns.from_options(column_options, LABELLED_OPTIONS)
    check_columns(data, columns=columns)
    from stance.model import StanceClassifier

    if classifier is None:
        classifier = StanceClassifier.load(model, precision=precision, batch_size=batch_size)
    labels = tuple(classifier.labels)
    rows = read_labelled(data, labels, columns=columns_for_model(classifier, columns))
    if not rows.gold:
        raise InputDataError(f"{data} has no labelled rows to calibrate on ({rows.excluded})")
    gold = metrics.label_indices(rows.gold, labels)
    logits = logits_of(classifier, rows.claims, rows.responses, progress, rows.contexts)
    previous = float(getattr(classifier, "temperature", 1.0))
    temperature = fit_temperature(logits, gold)
    low, high = TEMPERATURE_BOUNDS
    at_bound = not (low * 1.01 < temperature < high / 1.01)
    if at_bound:
        warnings.warn(
            f"the fitted temperature {temperature:.3g} is at the edge of the search range "
            f"{TEMPERATURE_BOUNDS}; the calibration data may be too small or one-sided",
            stacklevel=2,
        )
    before = _scores(logits, gold, previous)
    after = _scores(logits, gold, temperature)
    record = {
        "temperature": temperature,
        "previous_temperature": previous,
        "data": str(data),
        "filters": columns.describe_filters(),
        "rows": len(gold),
        "excluded_rows": rows.n_excluded,
        "nll_before": before["nll"],
        "nll_after": after["nll"],
        "ece_before": before["ece"],
        "ece_after": after["ece"],
        "fitted_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if columns.context is not None:
        record["context_column"] = columns.context
    if output_model is not None:  # a full copy, then its temperature: as in place
        target = Path(output_model).expanduser()
        try:
            classifier.save(target)
        except OSError as exc:
            raise OutputError(f"cannot write the calibrated model to {target}: {exc}") from None
    else:
        target = Path(os.fspath(model)).expanduser()
        _record_reading(target, classifier)
    write_temperature(target, temperature, record)
    return CalibrationResult(
        temperature=temperature,
        previous_temperature=previous,
        n=len(gold),
        before=before,
        after=after,
        model_dir=target,
        excluded=rows.excluded,
        at_bound=at_bound,
    )
