"""`StanceClassifier`: load, predict and save a claim/response stance cross-encoder.

>>> from stance import StanceClassifier
>>> clf = StanceClassifier.load()  # doctest: +SKIP
>>> clf.predict([("The Kharkiv offensive has failed.", "No, it doesn't.")])  # doctest: +SKIP
['denial']

A reply that only makes sense with the post it answers takes that post as a third item,
the context (used by models trained with context, see ``context_column`` in training
configs):

>>> clf.predict([("X is true.", "Exactly.", "No, X is false.")])  # doctest: +SKIP
['denial']
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import threading
import types
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import torch

from stance import modeldir
from stance.columns import coerce_pairs, coerce_rows
from stance.defaults import DEFAULT_BATCH_SIZE
from stance.errors import ConfigError, did_you_mean
from stance.inference import Runtime, Settings, build_runtime
from stance.model_config import ModelConfig
from stance.progress import truncation_message

if TYPE_CHECKING:
    import pandas as pd

    from stance.documents import Aggregation, DocumentPrediction

    Rows = Sequence[tuple[str, str] | tuple[str, str, str | None]] | pd.DataFrame
    """(claim, response) pairs, (claim, response, context) triples, or a DataFrame."""

DEFAULT_MAX_LENGTH = 256


class TruncationWarning(UserWarning):
    """Some pairs were longer than ``max_length`` tokens and their responses were cut."""


def warn_truncated(
    truncated: int, total: int, max_length: int, *, fix: str, stacklevel: int
) -> None:
    """Warn (:class:`TruncationWarning`) when ``truncated`` of ``total`` pairs were cut to
    ``max_length`` tokens; ``fix`` says how to keep more text, ``stacklevel`` is that of
    :func:`warnings.warn` as seen from the caller."""
    if truncated:
        message = truncation_message(truncated, max_length, total=total, fix=fix)
        warnings.warn(message, TruncationWarning, stacklevel=stacklevel + 1)


class ContextWarning(UserWarning):
    """Context was given to a model trained without it (and ignored), or a model trained
    with context was given none."""


_T = TypeVar("_T")


class _Setting(Generic[_T]):
    """A :class:`StanceClassifier` setting: readable, fixed once the classifier is built.

    Assigning one raises an error that says how to get a classifier with another value,
    instead of silently leaving the runtime built from the old value in place.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> _T:
        if instance is None:
            return self  # type: ignore[return-value]  # the class attribute, for help()
        return getattr(instance._settings, self.name)

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(
            f"{self.name} is fixed once a StanceClassifier is built (the tokenizer and the "
            f"model copy it runs on are made for it, and threads may share it); get one "
            f"with another value, sharing the weights, with "
            f"clf.with_settings({self.name}={value!r}), or pass it to StanceClassifier.load"
        )


class StanceClassifier:
    """A cross-encoder that labels (claim, response) pairs as, by default, support/denial/neutral.

    Build one with :meth:`load`; the constructor only checks and stores its arguments.
    A classifier is safe to share between threads: its settings are fixed once it is
    built (:meth:`with_settings` returns one with other settings that shares the weights).

    Args:
        model: a ``transformers`` sequence-classification model (fp32 weights).
        tokenizer: its tokenizer.
        max_length: tokens per pair; longer pairs keep the claim whole and cut the response.
        batch_size: pairs per forward pass (pairs are length-sorted inside).
        precision: ``"auto"`` (bf16 where the hardware has native bf16, else fp32),
            ``"bf16"`` or ``"fp32"``. fp32 results agree within 1e-4 whatever the batch
            size and thread count; bf16 moves probabilities by up to about 0.03 (99th
            percentile 0.012) and keeps about 99.7% of fp32's labels (README, Reliability).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA if available, else CPU).
        temperature: logits are divided by it before the softmax (set by calibration).
        config: the model directory's ``stance_config.json``
            (:class:`~stance.model_config.ModelConfig`: provenance, base model, ...).
        source: where the model was loaded from (``"default"``, a folder, a hub id).
        context_encoding: how a context is encoded (:data:`stance.modeldir.CONTEXT_ENCODING`)
            for a model trained with conversation context; ``None`` (default) for a model
            trained on pairs, which ignores contexts with a :class:`ContextWarning`.

    Example:
        >>> clf = StanceClassifier.load("path/to/model")  # doctest: +SKIP
        >>> clf.labels  # doctest: +SKIP
        ('support', 'denial', 'neutral')
        >>> clf.predict_proba([("claim", "response")]).shape  # doctest: +SKIP
        (1, 3)
    """

    max_length = _Setting[int]()
    batch_size = _Setting[int]()
    precision = _Setting[str]()
    device = _Setting["str | None"]()
    temperature = _Setting[float]()
    context_encoding = _Setting["str | None"]()
    pair_order = _Setting[str]()

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
        precision: str = "auto",
        device: str | None = None,
        temperature: float = 1.0,
        config: ModelConfig | None = None,
        source: str | None = None,
        context_encoding: str | None = None,
        pair_order: str = "claim_first",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._settings = Settings(
            max_length=max_length,
            batch_size=batch_size,
            precision=precision,
            device=device,
            temperature=temperature,
            context_encoding=context_encoding,
            pair_order=pair_order,
        )
        self._config = config or ModelConfig()
        self.source = source
        self._runtime: Runtime | None = None
        self._runtime_lock = threading.Lock()  # one build per classifier, not one for all

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        max_length: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        precision: str = "auto",
        device: str | None = None,
        label_map: Mapping[str, str] | None = None,
        pair_order: str | None = None,
    ) -> StanceClassifier:
        """Load a model: the shipped default (``path=None``), a local directory, or a hub id.

        A local directory is one written by :meth:`save`, any Hugging Face
        sequence-classification model directory, or a LoRA adapter directory written by
        ``stance train`` (merged onto its base weights on load). The network is used
        only when ``path`` is a hub id that is not a local directory.

        An NLI model (labels entailment / neutral / contradiction, or two-way
        entailment / not_entailment) is read as a stance model: its labels are mapped to
        support / neutral / denial and the pair goes in as (response, claim), i.e.
        ``pair_order="response_first"`` (:mod:`stance.label_mapping`). ``label_map`` (the
        model's label name -> stance label) and ``pair_order`` (``"claim_first"`` or
        ``"response_first"``) override that, e.g. for a model with labels ``LABEL_0``...

        >>> clf = StanceClassifier.load()  # doctest: +SKIP
        >>> StanceClassifier.load("roberta-large-mnli").labels  # doctest: +SKIP
        ('support', 'denial', 'neutral')
        """
        loaded = modeldir.load_model_dir(path, label_map=label_map, pair_order=pair_order)
        config = loaded.config
        return cls(
            loaded.model,
            loaded.tokenizer,
            max_length=max_length or config.max_length or DEFAULT_MAX_LENGTH,
            batch_size=batch_size,
            precision=precision,
            device=device,
            temperature=config.temperature,
            config=config,
            source=loaded.source,
            context_encoding=config.context_encoding,
            pair_order=config.pair_order,
        )

    def with_settings(self, **changes: Any) -> StanceClassifier:
        """A classifier like this one with other settings (``max_length``, ``batch_size``,
        ``precision``, ``device``, ``temperature``, ``context_encoding``), sharing its
        weights and tokenizer. It builds its own runtime on first use, unless only the
        temperature changes: then it shares this one's (which does not depend on it).

        >>> clf.with_settings(max_length=512).max_length  # doctest: +SKIP
        512
        """
        names = [item.name for item in dataclasses.fields(Settings)]
        unknown = [name for name in changes if name not in names]
        if unknown:
            hint = "".join(did_you_mean(name, names) for name in unknown)
            raise ConfigError(f"unknown settings {unknown}; the settings are {names}.{hint}")
        settings = dataclasses.replace(self._settings, **changes)
        clf = type(self)(
            self.model,
            self.tokenizer,
            **dataclasses.asdict(settings),
            config=self._config,
            source=self.source,
        )
        if set(changes) <= {"temperature"}:
            clf._runtime = self.runtime
        return clf

    # -------------------------------------------------------------- properties
    @property
    def labels(self) -> tuple[str, ...]:
        """Label names in the column order of :meth:`predict_proba`."""
        return modeldir.labels_of(self.model.config)

    @property
    def classes_(self) -> np.ndarray:
        """scikit-learn style alias of :attr:`labels`, as a numpy array."""
        return np.array(self.labels, dtype=object)

    @property
    def config(self) -> ModelConfig:
        """The ``stance_config.json`` this classifier stands for (and :meth:`save` writes):
        the loaded one with this classifier's labels, max length, temperature and context
        encoding.

        >>> clf.config.recorded_metrics("validation")  # doctest: +SKIP
        {'eval_accuracy': 0.71, 'eval_macro_f1': 0.70, ...}
        """
        return self._config.replace(
            labels=self.labels,
            max_length=self.max_length,
            temperature=float(self.temperature),
            context_encoding=self.context_encoding,
            pair_order=self.pair_order,
        )

    @property
    def info(self) -> Mapping[str, Any]:
        """:attr:`config` as the JSON object of ``stance_config.json``, plus ``source``;
        a read-only view.

        >>> clf.info["source"]  # doctest: +SKIP
        'default'
        """
        info = self.config.to_dict()
        if self.source is not None:
            info["source"] = self.source
        return types.MappingProxyType(info)

    @property
    def uses_context(self) -> bool:
        """True when the model was trained with conversation context (a third input)."""
        return self.context_encoding is not None

    @property
    def runtime(self) -> Runtime:
        """What predictions run on: the model in its compute dtype on its device, the pair
        tokenizer for :attr:`max_length` and :attr:`context_encoding`, batching and
        padding (:class:`~stance.inference.Runtime`). Built on first use, once per
        classifier, even when threads ask at the same time.

        >>> clf.runtime.pair_tokenizer.encode(["claim"], ["response"])  # doctest: +SKIP
        """
        runtime = self._runtime
        if runtime is not None:
            return runtime
        with self._runtime_lock:
            if self._runtime is None:
                self._runtime = build_runtime(self.model, self.tokenizer, self._settings)
            return self._runtime

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype forward passes run in (resolved from ``precision``)."""
        return self.runtime.dtype

    # -------------------------------------------------------------- prediction
    def predict_proba(self, pairs: Rows) -> np.ndarray:
        """Probabilities, shape ``(n_pairs, len(labels))``, columns in :attr:`labels` order.

        ``pairs`` is a list of ``(claim, response)`` pairs or ``(claim, response, context)``
        triples (the context is the post the response answers; ``None`` or ``""`` for
        none), or a pandas DataFrame with ``claim`` and ``response`` columns and an
        optional ``context`` column. Rows come back in input order. A model trained
        without context ignores contexts, and a model trained with context given none
        predicts without; both warn once (:class:`ContextWarning`).

        >>> clf.predict_proba([("Prices rose.", "Prices fell.")]).round(2)  # doctest: +SKIP
        array([[0.01, 0.97, 0.02]])
        >>> clf.predict_proba([("Prices rose.", "Exactly.", "They fell.")]).shape  # doctest: +SKIP
        (1, 3)
        """
        return self._probabilities(pairs, warn_from=3)

    def predict(self, pairs: Rows) -> list[str]:
        """The most probable label of each pair (or triple, see :meth:`predict_proba`).

        >>> clf.predict([("Prices rose.", "Prices fell.")])  # doctest: +SKIP
        ['denial']
        """
        probabilities = self._probabilities(pairs, warn_from=3)
        labels = self.labels
        return [labels[i] for i in probabilities.argmax(axis=1)]

    # ------------------------------------------------------------ whole documents
    def predict_document(
        self,
        claim: str,
        document: str,
        *,
        aggregation: str | Aggregation | None = None,
        evidence_per_label: int = 1,
    ) -> DocumentPrediction:
        """The stance of a whole ``document`` towards ``claim``, with evidence sentences.

        Returns a :class:`stance.documents.DocumentPrediction` (label, probabilities,
        best supporting/denying sentences with character offsets). ``aggregation`` is a
        preset name or :class:`stance.documents.Aggregation` (see ``stance.documents``).

        >>> clf.predict_document("The bridge is closed.", article).label  # doctest: +SKIP
        'denial'
        """
        return self.predict_documents(
            [(claim, document)], aggregation=aggregation, evidence_per_label=evidence_per_label
        )[0]

    def predict_documents(
        self,
        pairs: Sequence[tuple[str, str]] | pd.DataFrame,
        *,
        aggregation: str | Aggregation | None = None,
        evidence_per_label: int = 1,
    ) -> list[DocumentPrediction]:
        """:meth:`predict_document` for many (claim, document) pairs in one batched pass."""
        from stance.documents import predict_documents

        claims, documents = coerce_pairs(pairs)
        return predict_documents(
            self, claims, documents, aggregation, evidence_per_label=evidence_per_label
        )

    # ------------------------------------------------------------------ saving
    def save(
        self, path: str | os.PathLike[str], *, provenance: Mapping[str, Any] | None = None
    ) -> Path:
        """Write a plain HF model + tokenizer directory and ``stance_config.json``.

        ``transformers.AutoModelForSequenceClassification.from_pretrained(path)`` loads
        the result as it is. Weights are written as safetensors only. ``provenance``
        replaces the loaded model's record of how it was made (for weights changed since,
        e.g. averaged); a ``saved_at`` time is added to it unless it has one.

        >>> clf.save("my-model")  # doctest: +SKIP
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with modeldir.no_progress_bars():
            self.model.save_pretrained(path, safe_serialization=True)
            self.tokenizer.save_pretrained(path)
        config = self.config
        provenance = dict(config.provenance if provenance is None else provenance)
        provenance.setdefault("saved_at", _dt.datetime.now(_dt.timezone.utc).isoformat())
        # the saved weights are complete: no base to overlay
        config.stamped().replace(provenance=provenance, base_model=None).write(path)
        return path

    # ---------------------------------------------------------------- internals
    def _probabilities(self, pairs: Rows, warn_from: int) -> np.ndarray:
        """:meth:`predict_proba`; a warning points ``warn_from`` frames up."""
        claims, responses, contexts = coerce_rows(pairs)
        if not context_for_model(self, given=contexts is not None, stacklevel=warn_from):
            contexts = None
        probabilities, truncated = self.runtime.probabilities(
            claims, responses, contexts, temperature=self.temperature
        )
        fix = "Pass a larger max_length to StanceClassifier.load if the cut text matters."
        count = int(truncated.sum())
        warn_truncated(count, len(claims), self.max_length, fix=fix, stacklevel=warn_from)
        return probabilities

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the runtime and its lock (the copy builds its own)."""
        state = dict(self.__dict__)
        state["_runtime"] = None
        del state["_runtime_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._runtime_lock = threading.Lock()

    def __repr__(self) -> str:
        source = self.source or "?"
        context = f", context_encoding={self.context_encoding!r}" if self.uses_context else ""
        return (
            f"StanceClassifier(source={source!r}, labels={list(self.labels)}, "
            f"max_length={self.max_length}, precision={self.precision!r}{context})"
        )


def context_for_model(clf: StanceClassifier, given: bool, stacklevel: int = 2) -> bool:
    """Whether to pass a caller's context on to ``clf``, warning when input and model
    disagree: what ``predict_proba`` and the commands (score, eval, calibrate, predict,
    the Ray scorer) decide before they score.

    ``given``: the caller has a context input (triples, a context column). A model
    trained without context gets none (warning that it is ignored); a model trained
    with context given none warns that predictions may be worse. ``stacklevel`` points
    the warning at the caller's caller, as in :func:`warnings.warn`.

    >>> context_for_model(clf, given=True)  # doctest: +SKIP
    False
    """
    if given and not clf.uses_context:
        warnings.warn(
            "this model was trained without context; the context input (the context "
            "column or the third item of each triple) is ignored",
            ContextWarning,
            stacklevel=stacklevel + 1,
        )
        return False
    if not given and clf.uses_context:
        warnings.warn(
            "this model was trained with context (the post each response answers) but "
            "none was given; predictions without it may be worse. Pass (claim, "
            "response, context) triples or a DataFrame with a context column (on the "
            "command line: --context-column, or --context for stance predict)",
            ContextWarning,
            stacklevel=stacklevel + 1,
        )
    return given
