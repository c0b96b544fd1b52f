"""A model folder's ``stance_config.json``: :class:`ModelConfig` reads, checks and writes it.

Hugging Face's own files (``config.json``, weights, tokenizer) say how to run the network;
``stance_config.json`` says what this library needs beyond them::

    {"library": "claimstance", "version": "0.1.0", "schema_version": 1,
     "labels": ["support", "denial", "neutral"], "max_length": 256,
     "truncation": "only_second", "temperature": 1.0, "provenance": {...}}

and, where they apply, ``context_encoding`` (a model trained with conversation context),
``base_model`` with its digests (``base_sha256``, ``base_model_version``, ``base_digests``;
weights stored relative to a base), ``label_map`` (a model's own label names, e.g. an NLI
model's, mapped to stance labels), ``pair_order`` (``claim_first`` or ``response_first``),
``calibration`` (what ``stance calibrate`` fitted).

:class:`ModelConfig` is the only code that reads or writes the file: reading checks every
known key's type and warns about a file from a newer claimstance; writing is atomic (a
temporary file renamed over the old one). Keys this version does not know, written by a
newer one, are kept in :attr:`ModelConfig.extra` and written back as they were. A file
from before ``schema_version`` existed reads as schema 1, the schema it was written in.

Data only: no torch, nothing happens on import.

>>> config = ModelConfig(labels=("support", "denial", "neutral"), max_length=256)
>>> ModelConfig.from_dict(config.to_dict()) == config
True
>>> ModelConfig.read("runs/my-model").max_length  # doctest: +SKIP
256
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance._version import __version__
from stance.errors import ModelLoadError, OutputError

STANCE_CONFIG = "stance_config.json"
SCHEMA_VERSION = 1
"""The layout this version writes. 1: the keys of :class:`ModelConfig`; a file without
``schema_version`` was written before the key existed, in this same layout."""
LIBRARY = "claimstance"
TRUNCATION_STRATEGY = "only_second"
CONTEXT_ENCODING = "context_sep_response"
"""How a (claim, response, context) triple is encoded: segment A is the claim, segment B
is ``context [SEP] response`` (the thread in reading order: source post, parent, reply).
Truncation keeps the claim and the response whole first and cuts the context from its
start (the words nearest the reply stay); only then is the response cut as for a pair.
A row without context is encoded exactly as the pair (claim, response)."""
CONTEXT_ENCODINGS = (CONTEXT_ENCODING,)
PAIR_ORDERS = ("claim_first", "response_first")
"""Which text goes into segment A: the claim (every model so far) or the response."""
UPGRADE = "pip install -U claimstance"


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """The content of ``stance_config.json`` (fields in the order they are written).

    ``None`` and empty values mean "not recorded" and are left out of the file, as is
    the default ``pair_order``. ``extra`` holds the keys of a newer schema, untouched.

    >>> ModelConfig(labels=("support", "denial"), temperature=1.5).to_dict()["labels"]
    ['support', 'denial']
    >>> list(ModelConfig().to_dict())  # what is always written
    ['schema_version', 'truncation', 'temperature']
    """

    library: str | None = None
    version: str | None = None
    """The claimstance version that wrote the file."""
    schema_version: int = SCHEMA_VERSION
    labels: tuple[str, ...] = ()
    """Label names in the model's output order."""
    max_length: int | None = None
    truncation: str = TRUNCATION_STRATEGY
    temperature: float = 1.0
    """Logits are divided by it before the softmax (see :mod:`stance.calibration`)."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """How the model was made: base model, data sources, rows, metrics, dates."""
    context_encoding: str | None = None
    """:data:`CONTEXT_ENCODING` for a model trained with context, else ``None``."""
    pair_order: str = "claim_first"
    label_map: Mapping[str, str] = field(default_factory=dict)
    """The model's label names mapped to stance labels (an NLI model: entailment -> ...)."""
    base_model: str | None = None
    """The base the stored weights are relative to (a delta or an adapter folder)."""
    base_sha256: str | None = None
    """SHA-256 of the base's ``model.safetensors``."""
    base_model_version: str | None = None
    """The base package and version to install when the digest does not match."""
    base_digests: Mapping[str, str] = field(default_factory=dict)
    """More base files by name (relative to the base folder) -> SHA-256."""
    calibration: Mapping[str, Any] | None = None
    """What ``stance calibrate`` fitted, on which data."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Keys this version does not know (from a newer one), kept as they were."""

    # ------------------------------------------------------------------ reading
    @classmethod
    def read(cls, folder: str | os.PathLike[str], *, stacklevel: int = 2) -> ModelConfig:
        """The config in ``folder`` (the defaults when the folder has none, as a plain
        Hugging Face folder); warns when a newer claimstance wrote it.

        Raises :class:`~stance.errors.ModelLoadError` for a file that is not JSON or has a
        value of the wrong type, naming the key, what it must be and what it holds.
        """
        file = Path(folder) / STANCE_CONFIG
        if not file.is_file():
            return cls()
        try:
            data = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelLoadError(
                f"{file} is not valid JSON ({exc}); restore it or re-save the model"
            ) from None
        config = cls.from_dict(data, where=str(file))
        config.warn_if_newer(str(file), stacklevel=stacklevel + 1)
        return config

    @classmethod
    def from_dict(cls, data: Any, where: str = STANCE_CONFIG) -> ModelConfig:
        """Check ``data`` (the file's JSON object) and build the config; ``where`` names
        the file in error messages.

        >>> ModelConfig.from_dict({"max_length": "256"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        stance.errors.ModelLoadError: stance_config.json: "max_length" must be a positive ...
        >>> ModelConfig.from_dict({"labels": ["a"], "from_a_newer_version": 1}).extra
        {'from_a_newer_version': 1}
        """
        if not isinstance(data, Mapping):
            raise ModelLoadError(f"{where} must hold a JSON object, got {type(data).__name__}")
        known, extra = {}, {}
        for key, value in data.items():
            if key not in _CHECKS:
                extra[key] = copy.deepcopy(value)
            elif value is not None or key not in _NULLABLE:
                _check(key, value, where)
                known[key] = _CONVERT.get(key, _same)(value)
        return cls(**known, extra=extra)

    def warn_if_newer(self, where: str, stacklevel: int = 2) -> None:
        """Warn when a newer claimstance wrote this config (its new keys are not used)."""
        saved = self.version or "0"
        if _version_tuple(saved) > _version_tuple(__version__):
            message = f"{where} was written by claimstance {saved}, newer than this {__version__}"
        elif self.schema_version > SCHEMA_VERSION:
            message = (
                f"{where} has schema_version {self.schema_version}, newer than this "
                f"claimstance's {SCHEMA_VERSION}"
            )
        else:
            return
        unused = f" (keys it does not know are kept, not used: {sorted(self.extra)})"
        warnings.warn(
            message + (unused if self.extra else "") + f"; upgrade with: {UPGRADE}",
            stacklevel=stacklevel,
        )

    # ------------------------------------------------------------------ writing
    def to_dict(self) -> dict[str, Any]:
        """The JSON object to write: known keys in field order, then :attr:`extra`."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name == "extra" or value is None or _empty(value):
                continue
            if item.name == "pair_order" and value == "claim_first":
                continue
            out[item.name] = list(value) if item.name == "labels" else copy.deepcopy(value)
        out.update(copy.deepcopy(dict(self.extra)))
        return out

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``folder/stance_config.json`` atomically (a temporary file in the same
        folder, renamed over the old one): a reader never sees half a file. Returns the path.

        >>> ModelConfig(labels=("support", "denial")).write("runs/my-model")  # doctest: +SKIP
        PosixPath('runs/my-model/stance_config.json')
        """
        target = Path(folder) / STANCE_CONFIG
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        temp = None
        try:
            with tempfile.NamedTemporaryFile(
                "w", dir=target.parent, prefix=f".{STANCE_CONFIG}.", suffix=".tmp", delete=False
            ) as f:
                temp = Path(f.name)
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, target)
        except OSError as exc:
            if temp is not None:
                temp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {target}: {exc}") from None
        return target

    # ------------------------------------------------------------------ changing
    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with ``changes`` (checked as when read).

        >>> ModelConfig().replace(temperature=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        stance.errors.ModelLoadError: the new config: "temperature" must be a positive number...
        """
        for key, value in changes.items():
            if key in _CHECKS and (value is not None or key not in _NULLABLE):
                _check(key, value, "the new config")
        converted = {k: v if v is None else _CONVERT.get(k, _same)(v) for k, v in changes.items()}
        return dataclasses.replace(self, **converted)

    def stamped(self) -> ModelConfig:
        """This config as this claimstance writes it now (its name and version).

        >>> ModelConfig().stamped().library
        'claimstance'
        """
        return self.replace(library=LIBRARY, version=__version__)

    # ------------------------------------------------------------------ accessors
    def recorded_metrics(self, part: str) -> dict[str, float]:
        """The figures ``stance train`` recorded for ``part`` (``"train"``,
        ``"validation"``), ``{}`` when there are none.

        >>> ModelConfig(provenance={"metrics": {"validation": {"eval_macro_f1": 0.7}}}
        ...             ).recorded_metrics("validation")
        {'eval_macro_f1': 0.7}
        """
        metrics = self.provenance.get("metrics") or {}
        return dict(metrics.get(part) or {})


# ---------------------------------------------------------------------- checks
def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_positive_number(value: Any) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


def _is_sha256(value: Any) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def _is_labels(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and all(_is_text(label) for label in value)
        and len(set(value)) == len(value)
    )


def _is_text_map(value: Any, check_value: Callable[[Any], bool] = _is_text) -> bool:
    return isinstance(value, dict) and all(_is_text(k) and check_value(v) for k, v in value.items())


_CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "library": ("a string", _is_text),
    "version": ('a version string such as "0.1.0"', _is_text),
    "schema_version": ("a positive integer", _is_positive_int),
    "labels": ("a list of distinct, non-empty label names", _is_labels),
    "max_length": ("a positive integer", _is_positive_int),
    "truncation": ("a string", _is_text),
    "temperature": ("a positive number", _is_positive_number),
    "provenance": ("a JSON object", lambda v: isinstance(v, dict)),
    "context_encoding": (f"one of {list(CONTEXT_ENCODINGS)}", CONTEXT_ENCODINGS.__contains__),
    "pair_order": (f"one of {list(PAIR_ORDERS)}", PAIR_ORDERS.__contains__),
    "label_map": ("an object of model label name -> stance label", _is_text_map),
    "base_model": ("a string (a folder, a hub id, package:<module> or mpnet)", _is_text),
    "base_sha256": ("a SHA-256 digest (64 hex digits, lower case)", _is_sha256),
    "base_model_version": ("a string", _is_text),
    "base_digests": (
        "an object of file name -> SHA-256 digest",
        lambda v: _is_text_map(v, _is_sha256),
    ),
    "calibration": ("a JSON object", lambda v: isinstance(v, dict)),
}
"""What each known key must hold, for the error message, and the check."""
_NULLABLE = frozenset(
    ("library", "version", "max_length", "context_encoding", "calibration", "base_model")
    + ("base_sha256", "base_model_version")
)
"""Keys whose JSON ``null`` means "not recorded" (as the key's absence does)."""
_NEWER_VALUES = {"context_encoding", "pair_order"}
"""Keys whose unknown text values a newer claimstance may write."""


def _same(value: Any) -> Any:
    return value


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "labels": tuple,
    "temperature": float,
    "provenance": copy.deepcopy,
    "calibration": copy.deepcopy,
    "label_map": dict,
    "base_digests": dict,
}


def _check(key: str, value: Any, where: str) -> None:
    expected, check = _CHECKS[key]
    if check(value):
        return
    if key == "context_encoding" and isinstance(value, str):  # the message README documents
        raise ModelLoadError(
            f"{where} names the context encoding {value!r}, which this claimstance "
            f"{__version__} does not know (it knows {list(CONTEXT_ENCODINGS)}); the model was "
            f"probably saved by a newer version: {UPGRADE}"
        )
    fix = (
        f"the model may come from a newer claimstance: {UPGRADE}"
        if key in _NEWER_VALUES and isinstance(value, str)
        else "correct it, or save the model again"
    )
    raise ModelLoadError(
        f'{where}: "{key}" must be {expected}, got {type(value).__name__} {value!r:.60}; {fix}'
    )


def _empty(value: Any) -> bool:
    return isinstance(value, (tuple, list, dict, Mapping)) and not value


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"1.2.3rc1"`` -> ``(1, 2, 3)``; what is not a number counts as 0.

    >>> _version_tuple("0.10.1") > _version_tuple("0.9")
    True
    """
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
