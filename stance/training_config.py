"""Training configuration: dataclasses, YAML loading, strict validation, overrides.

Every key is checked: an unknown key fails with a "did you mean ...?" suggestion,
and a value of the wrong type says which key, what was expected and what came.

>>> config = TrainConfig.from_dict({"sources": [{"path": "train.csv"}], "epochs": 1})
>>> config.epochs
1.0
>>> TrainConfig.from_dict({"sources": [{"path": "t.csv"}], "epoch": 1})
Traceback (most recent call last):
...
stance.errors.ConfigError: unknown key 'epoch' in config. Did you mean 'epochs'?
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.columns import Columns
from stance.errors import ConfigError, did_you_mean
from stance.modeldir import BASE_MODEL_PACKAGE, SHIPPED_MODEL

DEFAULT_BASE_MODEL = BASE_MODEL_PACKAGE


@dataclass
class SourceConfig:
    """One labelled data file (CSV, JSONL(.gz), Parquet) or a saved HF dataset folder.

    Args:
        path: file or ``datasets.save_to_disk`` folder; relative paths are relative to
            ``data_dir`` when it is set, else to the current directory.
        name: a short name for reports (default: the file's folder or stem).
        claim_column, response_column, label_column: column names in the source.
        context_column: the column holding the post each response answers (conversation
            context, e.g. ``meta.parent_text``; dotted names reach into dict columns); a
            missing or empty value means no context for that row. When any training
            source has one, the model is trained with context (see
            :data:`stance.modeldir.CONTEXT_ENCODING`) and records it.
        label_map: source label -> model label (labels already in the model map to
            themselves).
        filter: keep rows whose column equals the value (or is in the list), compared
            as text as ``stance eval --filter`` compares (``fold: 1`` keeps ``"1"`` in a
            CSV and ``1`` in JSONL); dotted names reach into dict columns, e.g.
            ``meta.task: negation``.
        max_rows: cap after filtering (a seeded random sample).
        weight: rows drawn = weight x rows (after the cap); <1 subsamples, >1 repeats.
        balance_classes: resample this source so each label has the same count (the mean).
        debias: ``false`` leaves this source out of the claim-only model (see
            :class:`DebiasSettings`): for rows built so that the claim alone cannot tell the
            label, such as a claim against its own negation.
        licence: the data's licence, for the model card.
        split: the split of a saved ``DatasetDict`` to read.
    """

    path: str
    name: str | None = None
    claim_column: str = "claim"
    response_column: str = "response"
    label_column: str = "label"
    context_column: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    filter: dict[str, Any] = field(default_factory=dict)
    max_rows: int | None = None
    weight: float = 1.0
    balance_classes: bool = False
    debias: bool = True
    licence: str | None = None
    split: str | None = None

    def display_name(self) -> str:
        if self.name:
            return self.name
        p = Path(self.path)
        return p.parent.name if p.stem in ("pairs", "train", "data") else p.stem.split(".")[0]

    @property
    def columns(self) -> Columns:
        """The source's columns, label map and filter as one value.

        >>> SourceConfig(path="t.csv", label_column="stance", filter={"split": "train"}).columns
        Columns(claim='claim', response='response', context=None, label='stance', \
label_map={}, filters={'split': ('train',)}, prefix='')
        """
        return Columns(
            claim=self.claim_column,
            response=self.response_column,
            context=self.context_column,
            label=self.label_column,
            label_map=self.label_map,
            filters=self.filter,
        )


@dataclass
class ValidationConfig:
    """Where validation rows come from: their own sources, or a held-out fraction.

    The held-out fraction is split by claim, so no claim is in both sets.
    """

    sources: list[SourceConfig] = field(default_factory=list)
    fraction: float = 0.0
    max_rows: int | None = None


@dataclass
class LoraSettings:
    """LoRA through ``peft``: only the adapter and the head are trained and saved."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])


@dataclass
class DebiasSettings:
    """Train around claim-only shortcuts (see :mod:`stance.debias`).

    A claim-only model (TF-IDF + logistic regression) is cross-fitted on the training
    rows; ``reweight`` scales each row's loss by ``1 - p_claim_only(gold)``,
    ``product_of_experts`` trains the model in a product with the claim-only model. Rows of
    a source with ``debias: false`` are neither fitted nor scored by it: they count as
    scored at chance (every label ``1 / n_labels``), which leaves ``product_of_experts``
    with their plain cross-entropy and ``reweight`` with weight ``1 - 1 / n_labels``.
    """

    method: str = "reweight"
    folds: int = 5


@dataclass
class DistillSettings:
    """Learn from a teacher model's probabilities as well as the gold labels (see
    :mod:`stance.distill`): ``teacher`` is anything ``StanceClassifier.load`` takes
    (``large``, ``default``, a model folder); ``weight`` is the loss's share on the
    teacher (1 ignores the gold labels); ``temperature`` softens both distributions.
    """

    teacher: str
    weight: float = 0.5
    temperature: float = 2.0


@dataclass
class OfftopicSettings:
    """Add ``rows`` pairs of a training claim with a response from another source that
    shares no content word with it and states something (at least ``min_content_words``
    content words), labelled ``label``: responses about something else say nothing about
    the claim, whatever the claim's own wording suggests.
    """

    rows: int
    label: str = "neutral"
    min_content_words: int = 5


@dataclass
class TrainConfig:
    """Everything ``stance train`` needs. See ``configs/*.yaml`` for examples."""

    sources: list[SourceConfig]
    base_model: str = DEFAULT_BASE_MODEL
    labels: Any = "stance3"
    max_length: int = 256
    data_dir: str | None = None
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    train_fraction: float = 1.0
    output_dir: str = "runs/model"
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 32
    eval_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    lr_scheduler: str = "linear"
    class_weights: str | None = None
    focal_gamma: float | None = None
    eval_steps: int | None = None
    early_stopping_patience: int | None = 3
    save_total_limit: int = 2
    seed: int = 42
    precision: str = "auto"
    freeze_embeddings: bool = False
    lora: LoraSettings | None = None
    debias: DebiasSettings | None = None
    distill: DistillSettings | None = None
    offtopic: OfftopicSettings | None = None
    logging_steps: int = 50
    report_to: list[str] = field(default_factory=list)
    description: str | None = None

    def __post_init__(self) -> None:
        self.check()

    # --------------------------------------------------------------- validation
    def check(self) -> None:
        """Check value ranges (types are checked by :meth:`from_dict`); the first problem
        found fails, in the order of the steps below."""
        from stance.labels import resolve_labels

        resolve_labels(self.labels)
        if not self.sources:
            raise ConfigError("sources must list at least one training file")
        self._check_ranges()
        self._check_exclusive_settings()
        self._check_loss()
        self._check_debias()
        self._check_offtopic()
        self._check_choices()
        self._check_sources()

    def _check_ranges(self) -> None:
        """Sizes, step counts and shares within their ranges."""
        positive = ("batch_size", "eval_batch_size", "gradient_accumulation_steps", "max_length")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("set epochs > 0 or max_steps > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 <= self.validation.fraction < 1:
            raise ConfigError(
                f"validation.fraction must be in [0, 1), got {self.validation.fraction}"
            )
        if not 0 < self.train_fraction <= 1:
            raise ConfigError(
                f"train_fraction must be in (0, 1], got {self.train_fraction}; it is the share "
                "of the training rows to keep (1 keeps all)"
            )

    def _check_exclusive_settings(self) -> None:
        """Settings that cannot go together: LoRA on the shipped model, validation sources
        and a validation fraction."""
        if self.lora is not None and self.base_model == SHIPPED_MODEL:
            raise ConfigError(
                f"base_model {SHIPPED_MODEL!r} cannot take a LoRA adapter (loading the adapter "
                "would need the shipped weights of this exact version); save the shipped model "
                "first with StanceClassifier.load().save('DIR') and set base_model: DIR"
            )
        if self.validation.sources and self.validation.fraction:
            raise ConfigError("set either validation.sources or validation.fraction, not both")

    def _check_loss(self) -> None:
        """Class weights and focal loss, and that only one setting replaces the loss."""
        if self.class_weights not in (None, "balanced"):
            raise ConfigError(
                f"class_weights must be null or 'balanced', got {self.class_weights!r}"
            )
        if self.focal_gamma is not None and not self.focal_gamma >= 0:
            raise ConfigError(
                f"focal_gamma must be null or >= 0 (0 is plain cross-entropy; 2 is usual), got "
                f"{self.focal_gamma!r}"
            )
        replacing = [key for key in ("focal_gamma", "debias", "distill") if getattr(self, key)]
        if len(replacing) > 1:
            raise ConfigError(
                f"{' and '.join(replacing)} each replace the cross-entropy loss; set one of them"
            )
        if self.distill is not None:
            if not 0 <= self.distill.weight <= 1:
                raise ConfigError(
                    f"distill.weight must be in [0, 1] (the loss's share on the teacher), got "
                    f"{self.distill.weight}"
                )
            if not self.distill.temperature > 0:
                raise ConfigError(
                    f"distill.temperature must be > 0 (1 keeps the teacher's probabilities), "
                    f"got {self.distill.temperature}"
                )

    def _check_debias(self) -> None:
        """The debias section, and the sources' ``debias: false`` that need one."""
        if self.debias is not None:
            from stance.debias import METHODS

            _check_choice("debias.method", self.debias.method, METHODS)
            if self.debias.folds < 2:
                raise ConfigError(f"debias.folds must be >= 2, got {self.debias.folds}")
            if not any(s.debias for s in self.sources):
                raise ConfigError(
                    "every source sets debias: false, so the claim-only model has nothing to "
                    "learn from; remove the debias section or let a source be debiased"
                )
            return
        for i, source in enumerate(self.sources):
            if not source.debias:
                raise ConfigError(
                    f"sources[{i}] ({source.display_name()}) sets debias: false, but the "
                    "config has no debias section, so nothing is debiased; remove the key "
                    "or add debias: {method: reweight}"
                )

    def _check_offtopic(self) -> None:
        """The off-topic pairs: a label of the model, a positive count."""
        from stance.labels import resolve_labels

        if self.offtopic is None:
            return
        _check_choice("offtopic.label", self.offtopic.label, resolve_labels(self.labels))
        if self.offtopic.rows < 1:
            raise ConfigError(f"offtopic.rows must be >= 1, got {self.offtopic.rows}")
        if self.offtopic.min_content_words < 0:
            raise ConfigError(
                f"offtopic.min_content_words must be >= 0, got {self.offtopic.min_content_words}"
            )

    def _check_choices(self) -> None:
        """Precision and learning-rate schedule among the known names."""
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"precision must be 'auto', 'bf16' or 'fp32', got {self.precision!r}")
        schedulers = ("linear", "cosine", "constant", "constant_with_warmup")
        _check_choice("lr_scheduler", self.lr_scheduler, schedulers)

    def _check_sources(self) -> None:
        """Every source's weight, cap and context column; no context in validation only."""
        for source in [*self.sources, *self.validation.sources]:
            if source.weight <= 0:
                raise ConfigError(f"source {source.path}: weight must be > 0, got {source.weight}")
            if source.max_rows is not None and source.max_rows < 1:
                raise ConfigError(
                    f"source {source.path}: max_rows must be >= 1, got {source.max_rows}"
                )
            if source.context_column is not None and not source.context_column.strip():
                raise ConfigError(
                    f"source {source.path}: context_column must name a column, got "
                    f"{source.context_column!r}; remove the key for a source without context"
                )
        with_context = [s.path for s in self.validation.sources if s.context_column]
        if with_context and not self.uses_context:
            raise ConfigError(
                f"validation source(s) {with_context} have a context_column but no training "
                "source has one, so the model would be trained without context; add "
                "context_column to the training sources or remove it from validation"
            )

    @property
    def uses_context(self) -> bool:
        """True when a training source has a ``context_column``: the model reads context."""
        return any(source.context_column for source in self.sources)

    def resolve_path(self, path: str) -> Path:
        """A source path, relative to ``data_dir`` when that is set."""
        p = Path(os.path.expandvars(os.path.expanduser(path)))
        if not p.is_absolute() and self.data_dir:
            p = Path(os.path.expandvars(os.path.expanduser(self.data_dir))) / p
        return p

    # ------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict, checking every key and type."""
        return _build(cls, data, "config")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], overrides: list[str] = ()) -> TrainConfig:
        """Read a YAML config and apply ``key=value`` overrides (dotted keys reach in).

        >>> TrainConfig.from_yaml("configs/rumoureval.yaml", ["epochs=1"])  # doctest: +SKIP
        """
        data = read_yaml_mapping(path)
        for override in overrides:
            apply_override(data, override)
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise the uniform "must be one of" error, with a "did you mean" when one is close."""
    if value not in choices:
        raise ConfigError(
            f"{key} must be one of {choices}, got {value!r}.{did_you_mean(value, choices)}"
        )


def read_yaml_mapping(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping, with clear errors otherwise."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys, got {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply one ``key=value`` override in place; the value is parsed as YAML.

    >>> d = {"lora": {"r": 8}}
    >>> apply_override(d, "lora.r=16"); d
    {'lora': {'r': 16}}
    """
    import yaml

    if "=" not in override:
        raise ConfigError(f"an override must look like key=value (e.g. epochs=1), got {override!r}")
    key, _, raw = override.partition("=")
    value = yaml.safe_load(raw) if raw.strip() else None
    target: Any = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        if isinstance(target, list):
            if not part.isdigit() or int(part) >= len(target):
                raise ConfigError(f"override {override!r}: {part!r} is not an index of the list")
            target = target[int(part)]
        else:
            target = target.setdefault(part, {})
    last = parts[-1]
    if isinstance(target, list):
        if not last.isdigit() or int(last) >= len(target):
            raise ConfigError(f"override {override!r}: {last!r} is not an index of the list")
        target[int(last)] = value
    else:
        target[last] = value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of keys, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"unknown key {key!r} in {where}.{did_you_mean(str(key), fields)}")
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}" if where != "config" else key)
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where} is missing the required key(s) {missing}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__} {value!r}")
        return [_coerce(v, args[0] if args else Any, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {type(value).__name__} {value!r}")
        key_type, value_type = args if args else (Any, Any)
        return {
            _coerce(k, key_type, where): _coerce(v, value_type, f"{where}.{k}")
            for k, v in value.items()
        }
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, bool):
            raise ConfigError(
                f"{where} must be a string, got {value!r}: YAML reads bare yes/no/on/off as "
                "booleans; quote it, e.g. 'yes'"
            )
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value
