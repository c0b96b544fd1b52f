"""Retraining on labelled pairs with the Hugging Face Trainer.

>>> import stance
>>> clf = stance.training.train("configs/rumoureval.yaml")  # doctest: +SKIP

``train`` reads the sources, tokenizes them like inference does (claim kept whole; with
a ``context_column`` on any training source, (claim, response, context) triples encoded
as :data:`stance.modeldir.CONTEXT_ENCODING`, which the saved model records),
trains with the HF ``Trainer`` (bf16 autocast on CPUs with native bf16, dynamic
padding, length-grouped batches, warmup and decay, early stopping on validation
macro-F1, checkpoints that ``resume=True`` continues), optionally with a LoRA
adapter through ``peft``, and writes a model directory with a model card that
:meth:`stance.StanceClassifier.load` reads. Under ``torchrun`` it runs data-parallel
(DDP; gloo on CPU).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from stance import label_mapping, licences, metrics, modeldir
from stance._version import __version__
from stance.columns import context_values
from stance.data import keep_share, load_source, offtopic_pairs, split_by_claim
from stance.debias import claim_only_proba, debiased_loss
from stance.distill import distillation_loss, teacher_proba
from stance.errors import ConfigError, InputDataError
from stance.inference import PairTokenizer, resolve_dtype, uses_token_types
from stance.label_mapping import relabel_head, reorder_head
from stance.labels import resolve_labels
from stance.losses import focal_loss
from stance.model_config import ModelConfig
from stance.training_config import TrainConfig

if TYPE_CHECKING:
    from stance.model import StanceClassifier


@dataclass
class PreparedData:
    train: pd.DataFrame
    validation: pd.DataFrame | None
    labels: tuple[str, ...]


def prepare_data(config: TrainConfig) -> PreparedData:
    """Load every source and build the training and validation frames."""
    labels = resolve_labels(config.labels)

    def load(source: Any) -> pd.DataFrame:
        return load_source(
            source, labels, seed=config.seed, data_dir=config.data_dir, resolve=config.resolve_path
        )

    train = pd.concat([load(s) for s in config.sources], ignore_index=True)
    if config.offtopic is not None:
        extra = offtopic_pairs(
            train,
            config.offtopic.rows,
            config.offtopic.label,
            config.seed,
            min_content_words=config.offtopic.min_content_words,
        )
        train = pd.concat([train, extra], ignore_index=True)
    validation = None
    if config.validation.sources:
        validation = pd.concat([load(s) for s in config.validation.sources], ignore_index=True)
    elif config.validation.fraction:
        train, validation = split_by_claim(train, config.validation.fraction, config.seed)
    if config.train_fraction < 1:
        train = keep_share(train, config.train_fraction, config.seed)
    cap = config.validation.max_rows
    if validation is not None and cap and len(validation) > cap:
        validation = validation.sample(cap, random_state=config.seed)
    if len(train) == 0:
        raise InputDataError("the training sources hold no rows after filtering")
    return PreparedData(train, validation, labels)


class _PairDataset(torch.utils.data.Dataset):
    """Pre-tokenized pairs for the Trainer (dynamic padding happens in the collator)."""

    def __init__(
        self,
        frame: pd.DataFrame,
        pair_tokenizer: PairTokenizer,
        labels: tuple[str, ...],
        bias_proba: np.ndarray | None = None,
        *,
        token_types: bool,
        teacher_proba: np.ndarray | None = None,
    ):
        contexts = None
        if pair_tokenizer.context_encoding is not None:
            contexts, _ = context_values(frame["context"].tolist())
        encoded = pair_tokenizer.encode(
            frame["claim"].tolist(), frame["response"].tolist(), contexts
        )
        index = {label: i for i, label in enumerate(labels)}
        self.label_names = labels
        self.input_ids = encoded.input_ids
        self.token_type_ids = encoded.token_type_ids if token_types else None
        self.labels = [index[label] for label in frame["label"]]
        self.truncated = int(encoded.truncated.sum())
        self.bias_proba = bias_proba
        self.teacher_proba = teacher_proba

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {
            "input_ids": self.input_ids[i],
            "attention_mask": [1] * len(self.input_ids[i]),
            "labels": self.labels[i],
        }
        if self.token_type_ids is not None:
            item["token_type_ids"] = self.token_type_ids[i]
        if self.bias_proba is not None:
            item["bias_proba"] = self.bias_proba[i]
        if self.teacher_proba is not None:
            item["teacher_proba"] = self.teacher_proba[i]
        return item


class _BiasCollator:
    """Dynamic padding, with each row's claim-only (or teacher) probabilities carried
    alongside."""

    def __init__(self, tokenizer: Any):
        from transformers import DataCollatorWithPadding

        self.pad = DataCollatorWithPadding(tokenizer)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        carried = {
            key: [f.pop(key) for f in features if key in f]
            for key in ("bias_proba", "teacher_proba")
        }
        batch = self.pad(features)
        for key, rows in carried.items():
            if rows:
                batch[key] = torch.tensor(np.stack(rows), dtype=torch.float32)
        return batch


def _stance_trainer_class() -> type:
    """The HF ``Trainer`` with the library's loss: class weights, focal loss, claim-only
    debiasing and distillation."""
    from transformers import Trainer

    class StanceTrainer(Trainer):
        def __init__(
            self,
            *args: Any,
            class_weights: Any = None,
            debias: Any = None,
            focal_gamma: float | None = None,
            distill: Any = None,
            **kw: Any,
        ):
            super().__init__(*args, **kw)
            self.class_weights = class_weights
            self.debias = debias
            self.focal_gamma = focal_gamma
            self.distill = distill
            # compute_loss returns a batch mean: the Trainer divides it by the number of
            # gradient-accumulation steps itself (transformers' documented switch)
            self.model_accepts_loss_kwargs = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = dict(inputs)  # prediction_step reads the labels from it afterwards
            bias = inputs.pop("bias_proba", None)
            teacher = inputs.pop("teacher_proba", None)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
            if teacher is not None and self.distill is not None:
                loss = distillation_loss(
                    logits,
                    labels,
                    teacher,
                    weight=self.distill.weight,
                    temperature=self.distill.temperature,
                    class_weights=self.class_weights,
                )
            elif bias is not None and self.debias is not None:
                loss = debiased_loss(self.debias.method, logits, labels, bias, self.class_weights)
            elif self.focal_gamma:
                loss = focal_loss(logits, labels, self.focal_gamma, self.class_weights)
            else:
                weight = self.class_weights
                loss = torch.nn.functional.cross_entropy(
                    logits.float(),
                    labels,
                    weight=None if weight is None else weight.to(logits.device),
                )
            return (loss, outputs) if return_outputs else loss

    return StanceTrainer


def _compute_metrics(eval_prediction: Any) -> dict[str, float]:
    """Validation accuracy and macro-F1 over the gold labels, as ``stance eval`` counts."""
    logits, gold = eval_prediction.predictions, eval_prediction.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    predicted = np.asarray(logits).argmax(axis=1)
    return {
        "accuracy": metrics.accuracy(gold, predicted),
        "macro_f1": metrics.macro_f1(gold, predicted),
    }


def _build_model(config: TrainConfig, labels: tuple[str, ...]) -> Any:
    if config.base_model == modeldir.SHIPPED_MODEL:
        return _build_from_merged("default", config, labels)
    adapter = modeldir.adapter_folder(config.base_model)
    if adapter is not None:
        return _build_from_adapter(adapter, config, labels)
    located = modeldir.locate_base_model(config.base_model)
    if located is None:
        raise ConfigError(
            f"base_model not found: {config.base_model}; pass a local HF model directory, a hub "
            f"id, {modeldir.BASE_MODEL_PACKAGE!r} for the packaged MiniLM, 'mpnet' for the "
            f"verified MPNet-base, {modeldir.SHIPPED_MODEL!r} or 'large' to start from a "
            "shipped stance model"
        )
    base, local = located
    if local:
        modeldir.check_weights(Path(base))
    return _build_model_from(base, local, config, labels)


def _build_from_adapter(
    folder: Path, config: TrainConfig, labels: tuple[str, ...]
) -> tuple[Any, Any]:
    """Start from a LoRA adapter (``base_model: large`` or an adapter folder): with ``lora``
    set, keep training that adapter, so the result is again one adapter on the same base
    (for other labels its head gets one row per label, see
    :func:`~stance.label_mapping.relabel_head`); without it, fine-tune every weight of
    the merged model."""
    saved = ModelConfig.read(folder)
    if config.lora is None:
        return _build_from_merged(folder, config, labels)
    _check_same_lora(folder, config)
    model = modeldir.adapter_on_base(folder, saved, trainable=True)
    if tuple(saved.labels) != labels:
        fresh = relabel_head(model, saved.labels, labels)
        if fresh:
            warnings.warn(
                f"base_model {config.base_model} predicts {list(saved.labels)}; this config "
                f"trains {list(labels)}, so the head rows for {fresh} start from fresh "
                "weights (the others from the stance label each is a kind of)",
                stacklevel=3,
            )
    return model, modeldir.load_tokenizer(folder, saved)


def _build_from_merged(
    model: str | Path, config: TrainConfig, labels: tuple[str, ...]
) -> tuple[Any, Any]:
    """Start from a model stored relative to its base (the shipped delta, an adapter):
    saved whole to a temporary folder first, so transformers can fit the head."""
    import tempfile

    from stance.model import StanceClassifier

    with tempfile.TemporaryDirectory(prefix="stance-merged-") as folder:
        StanceClassifier.load(model, precision="fp32").save(folder)
        return _build_model_from(folder, True, config, labels)


def _check_same_lora(folder: Path, config: TrainConfig) -> None:
    """A continued adapter keeps its shape: refuse ``lora`` settings that differ from it."""
    import json

    assert config.lora is not None
    stored = json.loads((folder / "adapter_config.json").read_text())
    found = {
        "r": stored.get("r"),
        "alpha": stored.get("lora_alpha"),
        "dropout": stored.get("lora_dropout"),
        "target_modules": sorted(stored.get("target_modules") or ()),
    }
    wanted = {
        "r": config.lora.r,
        "alpha": config.lora.alpha,
        "dropout": config.lora.dropout,
        "target_modules": sorted(config.lora.target_modules),
    }
    differing = [key for key in wanted if wanted[key] != found[key]]
    if differing:
        settings = ", ".join(f"{key}: {found[key]}" for key in found)
        raise ConfigError(
            f"base_model {config.base_model} is a LoRA adapter that training continues, so "
            f"lora must match it ({settings}); {', '.join(differing)} differ. Set lora to "
            "those values, or remove lora to fine-tune the merged model fully"
        )


def adapter_base_model(config: TrainConfig) -> str:
    """The base a LoRA run's adapter sits on: ``base_model`` itself, or, when that is an
    adapter training continues, the base under it (``"mpnet"`` for ``large``).

    >>> adapter_base_model(TrainConfig(base_model="mpnet", sources=[]))  # doctest: +SKIP
    'mpnet'
    """
    folder = modeldir.adapter_folder(config.base_model)
    if folder is None:
        return config.base_model
    return modeldir.adapter_base(folder, ModelConfig.read(folder))


def _build_model_from(
    base: str, local: bool, config: TrainConfig, labels: tuple[str, ...]
) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    base_labels = _classifier_labels(
        AutoConfig.from_pretrained(base, local_files_only=local, trust_remote_code=False)
    )
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        ignore_mismatched_sizes=True,
        use_safetensors=True,
        trust_remote_code=False,
        local_files_only=local,
    )
    mapping = label_mapping.resolve(base_labels) if base_labels else None
    if mapping is not None:  # an NLI head: its rows under the stance labels they map to
        base_labels = tuple(mapping.label_map[name] for name in base_labels)
    if base_labels and base_labels != labels:
        if sorted(base_labels) == sorted(labels):
            reorder_head(model, [base_labels.index(label) for label in labels])
        else:
            warnings.warn(
                f"base_model {config.base_model} is a classifier for {list(base_labels)}; this "
                f"config trains {list(labels)}, so the classification head starts from random "
                "weights and only the encoder is carried over",
                stacklevel=3,
            )
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=local, trust_remote_code=False)
    if config.freeze_embeddings:
        for parameter in model.base_model.embeddings.word_embeddings.parameters():
            parameter.requires_grad = False
    if config.lora is not None:
        from peft import LoraConfig, TaskType, get_peft_model

        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=config.lora.r,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules,
        )
        model = get_peft_model(model, lora)
    return model, tokenizer


def _base_pair_order(config: TrainConfig) -> str:
    """The pair order a base model reads: recorded in its ``stance_config.json``, else
    ``response_first`` for an NLI model (:mod:`stance.label_mapping`), else ``claim_first``."""
    from transformers import AutoConfig

    adapter = modeldir.adapter_folder(config.base_model)
    if adapter is not None:
        return ModelConfig.read(adapter).pair_order
    located = (
        None
        if config.base_model == modeldir.SHIPPED_MODEL
        else modeldir.locate_base_model(config.base_model)
    )
    if located is None or not located[1]:
        return "claim_first"
    recorded = ModelConfig.read(located[0])
    if recorded.pair_order != "claim_first" or recorded.label_map:
        return recorded.pair_order
    try:
        base_config = AutoConfig.from_pretrained(located[0], local_files_only=True)
    except (OSError, ValueError):
        return "claim_first"
    is_nli = label_mapping.is_nli(_classifier_labels(base_config))
    return label_mapping.NLI_PAIR_ORDER if is_nli else "claim_first"


def _classifier_labels(config: Any) -> tuple[str, ...]:
    """The label names a base model was trained to predict; () for a plain encoder."""
    if not any(a.endswith("ForSequenceClassification") for a in config.architectures or ()):
        return ()
    names = modeldir.labels_of(config)
    return () if modeldir.has_generic_labels(names) else names


def train(
    config: TrainConfig | str | os.PathLike[str],
    *,
    output_dir: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    resume: bool = False,
    progress: bool = True,
) -> StanceClassifier:
    """Train a model as ``config`` says and return it loaded as a ``StanceClassifier``.

    ``config`` is a :class:`TrainConfig` or a YAML path; ``overrides`` are ``key=value``
    strings applied to a YAML config. ``resume=True`` continues from the last
    checkpoint in ``output_dir/checkpoints``.
    """
    config = _resolved_config(config, output_dir, overrides)
    out = Path(config.output_dir)
    _check_checkpoints(out / "checkpoints", resume)
    data = prepare_data(config)
    model, tokenizer = _build_model(config, data.labels)
    pair_order = _base_pair_order(config)
    bias = _claim_only_bias(config, data)
    teacher = _teacher_proba(config, data, progress)
    train_set, eval_set = _datasets(config, data, tokenizer, model, bias, pair_order, teacher)
    trainer = _trainer(config, model, tokenizer, (train_set, eval_set), progress)
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    metrics = _run_metrics(trainer, result, data, bias)
    if trainer.is_world_process_zero():
        sources = _save_output(
            trainer.model, tokenizer, config, data, metrics, train_set.truncated, pair_order
        )
        _warn_about_licences(sources, out)
    _wait_for_every_process()
    from stance.model import StanceClassifier

    return StanceClassifier.load(out, precision=config.precision)


def _resolved_config(
    config: TrainConfig | str | os.PathLike[str],
    output_dir: str | os.PathLike[str] | None,
    overrides: list[str],
) -> TrainConfig:
    """The config object: read from YAML with ``overrides``, with ``output_dir`` set."""
    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_yaml(config, list(overrides))
    elif overrides:
        raise ConfigError("overrides apply to YAML configs; edit the TrainConfig object instead")
    if output_dir is not None:
        config.output_dir = str(output_dir)
    return config


def has_checkpoint(folder: Path) -> bool:
    """True when ``folder`` holds a Trainer checkpoint (``checkpoint-N``) to resume from.

    >>> has_checkpoint(Path("no-such-folder"))
    False
    """
    return folder.is_dir() and any(p.name.startswith("checkpoint-") for p in folder.iterdir())


def _check_checkpoints(checkpoints: Path, resume: bool) -> None:
    """Refuse to resume without a checkpoint, and to start over on top of one."""
    if resume and not has_checkpoint(checkpoints):
        raise ConfigError(
            f"--resume was given but {checkpoints} holds no checkpoint; run without --resume"
        )
    if not resume and has_checkpoint(checkpoints):
        raise ConfigError(
            f"{checkpoints} holds checkpoints of an earlier run; pass --resume to continue it, "
            "or delete the folder (or pick another --output) to start over"
        )


@dataclass
class ClaimOnlyBias:
    """What claim-only debiasing trains against: each training row's cross-fitted
    claim-only probabilities, and which rows were debiased (sources with ``debias: false``
    are not)."""

    proba: np.ndarray
    rows: np.ndarray

    def cross_fit_accuracy(self, data: PreparedData) -> float:
        """How often the claim-only model guesses a debiased row's label: the shortcut the
        debiasing trained against."""
        gold = np.array([data.labels.index(label) for label in data.train["label"]])
        hits = self.proba.argmax(axis=1) == gold
        return float(np.mean(hits[self.rows]))


def _claim_only_bias(config: TrainConfig, data: PreparedData) -> ClaimOnlyBias | None:
    """The claim-only probabilities of the training rows, when the config debiases."""
    if config.debias is None:
        return None
    exempt = {s.display_name() for s in config.sources if not s.debias}
    rows = ~data.train["source"].isin(exempt).to_numpy()
    proba = claim_only_proba(
        data.train["claim"].tolist(),
        data.train["label"].tolist(),
        data.labels,
        config.debias.folds,
        rows,
    )
    return ClaimOnlyBias(proba, rows)


def _teacher_proba(config: TrainConfig, data: PreparedData, progress: bool) -> np.ndarray | None:
    """The teacher's probabilities of the training rows, when the config distills; kept
    in the run folder so a resumed run does not score again."""
    if config.distill is None:
        return None
    return teacher_proba(
        config.distill.teacher,
        data.train,
        data.labels,
        Path(config.output_dir) / "checkpoints",
        precision=config.precision,
        batch_size=config.eval_batch_size,
        progress=progress,
    )


def _datasets(
    config: TrainConfig,
    data: PreparedData,
    tokenizer: Any,
    model: Any,
    bias: ClaimOnlyBias | None,
    pair_order: str = "claim_first",
    teacher: np.ndarray | None = None,
) -> tuple[_PairDataset, _PairDataset | None]:
    """The tokenized training set and the validation set (``None`` without one), the
    pairs in the base model's ``pair_order``."""
    context_encoding = modeldir.CONTEXT_ENCODING if config.uses_context else None
    pair_tokenizer = PairTokenizer(tokenizer, config.max_length, context_encoding, pair_order)
    token_types = uses_token_types(tokenizer, model.config)
    bias_proba = None if bias is None else bias.proba
    train_set = _PairDataset(
        data.train,
        pair_tokenizer,
        data.labels,
        bias_proba,
        token_types=token_types,
        teacher_proba=teacher,
    )
    eval_set = (
        _PairDataset(data.validation, pair_tokenizer, data.labels, token_types=token_types)
        if data.validation is not None and len(data.validation)
        else None
    )
    return train_set, eval_set


def _training_arguments(config: TrainConfig, has_eval: bool, progress: bool) -> Any:
    """The Trainer's arguments: schedule, evaluation and checkpoints, precision, devices."""
    from transformers import TrainingArguments

    use_cuda = torch.cuda.is_available()
    dtype = resolve_dtype(config.precision, torch.device("cuda" if use_cuda else "cpu"))
    strategy = "steps" if config.eval_steps else "epoch"
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1  # launched by torchrun
    return TrainingArguments(
        output_dir=str(Path(config.output_dir) / "checkpoints"),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type=config.lr_scheduler,
        eval_strategy=strategy if has_eval else "no",
        save_strategy=strategy,
        eval_steps=config.eval_steps,
        save_steps=config.eval_steps,
        logging_steps=config.logging_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_eval,
        metric_for_best_model="macro_f1" if has_eval else None,
        greater_is_better=True,
        bf16=dtype == torch.bfloat16,
        use_cpu=not use_cuda,
        seed=config.seed,
        data_seed=config.seed,
        train_sampling_strategy="group_by_length",
        report_to=config.report_to or "none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        ddp_backend="gloo" if distributed and not use_cuda else None,
        save_only_model=False,
        # the Trainer would drop every batch key the model's forward does not take, the
        # claim-only probabilities among them, and silently train without debiasing;
        # _PairDataset yields only what the model reads, and the collator pops the rest
        remove_unused_columns=False,
    )


def _class_weights(config: TrainConfig, train_set: _PairDataset) -> Any:
    """Inverse-frequency label weights for ``class_weights: balanced``, else ``None``."""
    if config.class_weights != "balanced":
        return None
    n_labels = len(train_set.label_names)
    counts = np.bincount(train_set.labels, minlength=n_labels).astype(float)
    weights = counts.sum() / (n_labels * np.maximum(counts, 1))
    return torch.tensor(weights, dtype=torch.float32)


def _trainer(
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    datasets: tuple[_PairDataset, _PairDataset | None],
    progress: bool,
) -> Any:
    """The Trainer with the library's loss, early stopping and validation metrics."""
    from transformers import EarlyStoppingCallback

    train_set, eval_set = datasets
    has_eval = eval_set is not None
    args = _training_arguments(config, has_eval, progress)
    callbacks = []
    if has_eval and config.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(config.early_stopping_patience))
    return _stance_trainer_class()(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=_BiasCollator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=_compute_metrics if has_eval else None,
        callbacks=callbacks,
        class_weights=_class_weights(config, train_set),
        debias=config.debias,
        focal_gamma=config.focal_gamma,
        distill=config.distill,
    )


def _run_metrics(
    trainer: Any, result: Any, data: PreparedData, bias: ClaimOnlyBias | None
) -> dict[str, Any]:
    """The training metrics, the claim-only shortcut (when debiased) and the validation
    metrics (when there is a validation set), for the model card and provenance."""
    metrics: dict[str, Any] = {"train": {k: float(v) for k, v in result.metrics.items()}}
    if bias is not None:
        metrics["claim_only_cross_fit_accuracy"] = bias.cross_fit_accuracy(data)
    if trainer.eval_dataset is not None:
        metrics["validation"] = {
            k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, (int, float))
        }
    return metrics


def _warn_about_licences(sources: list[dict[str, Any]], out: Path) -> None:
    """Warn when a training source's licence is non-commercial or not stated."""
    restricted = licences.restricted_sources(sources)
    if restricted:
        warnings.warn(
            licences.LicenceWarning(
                f"{len(restricted)} training sources have a non-commercial licence or none "
                f"stated ({', '.join(restricted)}); the model may carry their terms. The "
                f"rows per licence class are in {out / 'README.md'}"
            ),
            stacklevel=3,
        )


def _wait_for_every_process() -> None:
    """Under torchrun, hold every process until rank 0 has saved the model."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def source_records(config: TrainConfig, train: pd.DataFrame) -> list[dict[str, Any]]:
    """Provenance of each training source (name, path, licence, mapping, filter, rows drawn
    in ``train``), with the off-topic pairs as a source of their own."""
    records = [
        {
            "name": s.display_name(),
            "path": s.path,
            "licence": s.licence,
            "label_map": s.label_map,
            "filter": s.filter,
            "rows": int((train["source"] == s.display_name()).sum()),
            **({"context_column": s.context_column} if s.context_column else {}),
        }
        for s in config.sources
    ]
    if config.offtopic is not None:
        records.append(
            {
                "name": "offtopic",
                "path": None,
                "licence": "mixed: pairs of the sources above (their terms apply)",
                "label_map": {},
                "filter": {},
                "rows": int((train["source"] == "offtopic").sum()),
            }
        )
    return records


def _save_output(
    model: Any,
    tokenizer: Any,
    config: TrainConfig,
    data: PreparedData,
    metrics: dict[str, Any],
    truncated: int,
    pair_order: str = "claim_first",
) -> list[dict[str, Any]]:
    """Write the model directory; return the provenance records of the sources."""
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("model.safetensors", "adapter_model.safetensors", "adapter_config.json"):
        (out / stale).unlink(missing_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    is_adapter = config.lora is not None
    if is_adapter:
        # The adapter's config.json is not written by peft; keep labels in stance_config.
        (out / "config.json").unlink(missing_ok=True)
    sources = source_records(config, data.train)
    provenance = {
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "base_model": config.base_model,
        "train_rows": len(data.train),
        "validation_rows": 0 if data.validation is None else len(data.validation),
        "truncated_train_pairs": truncated,
        "sources": sources,
        "metrics": metrics,
    }
    if config.uses_context:
        with_context = int(data.train["context"].map(lambda c: isinstance(c, str)).sum())
        provenance["train_rows_with_context"] = with_context
    ModelConfig(
        labels=data.labels,
        max_length=config.max_length,
        provenance=provenance,
        context_encoding=modeldir.CONTEXT_ENCODING if config.uses_context else None,
        base_model=adapter_base_model(config) if is_adapter else None,
        pair_order=pair_order,
    ).stamped().write(out)
    import yaml

    (out / "training_config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    (out / "README.md").write_text(model_card(config, data, metrics, sources))
    shutil.rmtree(out / "runs", ignore_errors=True)
    return sources


def model_card(
    config: TrainConfig, data: PreparedData, metrics: dict[str, Any], sources: list[dict]
) -> str:
    """A Markdown model card: data and licences, label mapping, config, metrics."""
    import yaml

    lines = [
        f"# {config.description or 'Stance model'}",
        "",
        f"Trained with claimstance {__version__} on "
        f"{_dt.date.today().isoformat()} from `{config.base_model}`"
        + (" (LoRA adapter; loaded onto the base weights)." if config.lora else "."),
        "",
        f"Labels (column order): {', '.join(data.labels)}. Pairs longer than "
        f"{config.max_length} tokens keep the claim whole and cut the response.",
        "",
        *(
            [
                "Trained with conversation context: each response is read with the post it "
                "answers, as `[CLS] claim [SEP] context [SEP] response [SEP]` (the context "
                "is cut first, from its start). Pass it as the third item of each triple "
                "or with `--context-column`.",
                "",
            ]
            if config.uses_context
            else []
        ),
        *(
            [
                f"Distilled from `{config.distill.teacher}`: the loss puts "
                f"{config.distill.weight:g} on the teacher's probabilities (temperature "
                f"{config.distill.temperature:g}) and {1 - config.distill.weight:g} on the "
                "gold labels.",
                "",
            ]
            if config.distill
            else []
        ),
        "**Licences.** " + licences.summary(sources),
        "",
        "## Training data",
        "",
        "| source | rows | licence | label mapping | filter |",
        "|---|---|---|---|---|",
    ]
    for s in sources:
        mapping = ", ".join(f"{k} → {v}" for k, v in s["label_map"].items()) or "as is"
        filters = ", ".join(f"{k}={v}" for k, v in s["filter"].items()) or "-"
        lines.append(
            f"| {s['name']} | {s['rows']:,} | {s['licence'] or 'not stated'} | {mapping} | "
            f"{filters} |"
        )
    counts = data.train["label"].value_counts()
    lines += [
        "",
        "Training label counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()),
        "",
        "## Validation metrics",
        "",
    ]
    validation = metrics.get("validation")
    if validation:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in validation.items()]
    else:
        lines.append("No validation set was configured.")
    lines += [
        "",
        "## Config",
        "",
        "```yaml",
        yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)
