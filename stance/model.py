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

import copy
import datetime as _dt
import json
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stance import modeldir
from stance._version import __version__
from stance.columns import coerce_pairs, coerce_rows
from stance.defaults import DEFAULT_BATCH_SIZE
from stance.errors import ConfigError
from stance.inference import (
    PairTokenizer,
    check_context_encoding,
    resolve_dtype,
    run_logits,
    softmax,
    uses_token_types,
)
from stance.progress import truncation_message

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 256
_RUNTIME_LOCK = threading.Lock()  # guards the lazy runtime build (module-level: picklable)


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


class StanceClassifier:
    """A cross-encoder that labels (claim, response) pairs as, by default, support/denial/neutral.

    Build one with :meth:`load`; the constructor only stores its arguments.

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
        info: the model directory's ``stance_config.json`` content (provenance etc.).
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
        info: dict[str, Any] | None = None,
        context_encoding: str | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.precision = precision
        self.device = device
        self.temperature = temperature
        self.info = dict(info or {})
        self.context_encoding = check_context_encoding(context_encoding)
        self._runtime: tuple[torch.nn.Module, PairTokenizer] | None = None

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
    ) -> StanceClassifier:
        """Load a model: the shipped default (``path=None``), a local directory, or a hub id.

        A local directory is one written by :meth:`save`, any Hugging Face
        sequence-classification model directory, or a LoRA adapter directory written by
        ``stance train`` (merged onto its base weights on load). The network is used
        only when ``path`` is a hub id that is not a local directory.

        >>> clf = StanceClassifier.load()  # doctest: +SKIP
        """
        loaded = modeldir.load_model_dir(path)
        max_length = max_length or loaded.info.get("max_length") or DEFAULT_MAX_LENGTH
        return cls(
            loaded.model,
            loaded.tokenizer,
            max_length=int(max_length),
            batch_size=batch_size,
            precision=precision,
            device=device,
            temperature=float(loaded.info.get("temperature", 1.0)),
            info=loaded.info,
            context_encoding=modeldir.context_encoding_of(loaded.info),
        )

    # -------------------------------------------------------------- properties
    @property
    def labels(self) -> tuple[str, ...]:
        """Label names in the column order of :meth:`predict_proba`."""
        return modeldir.labels_of(self.model.config)

    @property
    def classes_(self) -> np.ndarray:
        """scikit-learn style alias of :attr:`labels`, as a numpy array."""
        return np.array(self.labels, dtype=object)

    # -------------------------------------------------------------- prediction
    @property
    def uses_context(self) -> bool:
        """True when the model was trained with conversation context (a third input)."""
        return self.context_encoding is not None

    def predict_proba(self, pairs: Any) -> np.ndarray:
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

    def predict(self, pairs: Any) -> list[str]:
        """The most probable label of each pair (or triple, see :meth:`predict_proba`).

        >>> clf.predict([("Prices rose.", "Prices fell.")])  # doctest: +SKIP
        ['denial']
        """
        probabilities = self._probabilities(pairs, warn_from=3)
        labels = self.labels
        return [labels[i] for i in probabilities.argmax(axis=1)]

    def predict_proba_with_truncation(
        self,
        claims: Sequence[str],
        responses: Sequence[str],
        on_batch: Any = None,
        *,
        contexts: Sequence[str | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and a boolean mask of truncated pairs, for already-validated text.

        The building block of :meth:`predict_proba` and ``stance score``; ``on_batch``
        is called with the number of pairs after each forward pass. ``contexts`` (one per
        pair, ``None`` for none) needs a model trained with context; unlike
        :meth:`predict_proba` this method neither warns nor drops them
        (:meth:`context_for_model` does that for callers).
        """
        model, pair_tokenizer = self._get_runtime()
        encoded = pair_tokenizer.encode(claims, responses, contexts)
        logits = run_logits(
            model,
            encoded,
            batch_size=self.batch_size,
            pad_id=self._pad_id(),
            with_token_types=self._uses_token_types(),
            on_batch=on_batch,
        )
        return softmax(logits, self.temperature), encoded.truncated

    def context_for_model(self, given: bool, stacklevel: int = 2) -> bool:
        """Whether to pass the caller's context on, warning when input and model disagree.

        ``given``: the caller has a context input (triples, a context column). A model
        trained without context gets none (warning that it is ignored); a model trained
        with context given none warns that predictions may be worse. ``stacklevel``
        points the warning at the caller's caller, as in :func:`warnings.warn`.

        >>> clf.context_for_model(given=True)  # doctest: +SKIP
        False
        """
        if given and not self.uses_context:
            warnings.warn(
                "this model was trained without context; the context input (the context "
                "column or the third item of each triple) is ignored",
                ContextWarning,
                stacklevel=stacklevel + 1,
            )
            return False
        if not given and self.uses_context:
            warnings.warn(
                "this model was trained with context (the post each response answers) but "
                "none was given; predictions without it may be worse. Pass (claim, "
                "response, context) triples or a DataFrame with a context column (on the "
                "command line: --context-column, or --context for stance predict)",
                ContextWarning,
                stacklevel=stacklevel + 1,
            )
        return given

    # ------------------------------------------------------------ whole documents
    def predict_document(
        self, claim: str, document: str, *, aggregation: Any = None, evidence_per_label: int = 1
    ) -> Any:
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
        self, pairs: Any, *, aggregation: Any = None, evidence_per_label: int = 1
    ) -> list[Any]:
        """:meth:`predict_document` for many (claim, document) pairs in one batched pass."""
        from stance.documents import predict_documents

        claims, documents = coerce_pairs(pairs)
        return predict_documents(
            self, claims, documents, aggregation, evidence_per_label=evidence_per_label
        )

    # ------------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a plain HF model + tokenizer directory and ``stance_config.json``.

        ``transformers.AutoModelForSequenceClassification.from_pretrained(path)`` loads
        the result as it is. Weights are written as safetensors only.

        >>> clf.save("my-model")  # doctest: +SKIP
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with modeldir.no_progress_bars():
            self.model.save_pretrained(path, safe_serialization=True)
            self.tokenizer.save_pretrained(path)
        info = dict(self.info)
        provenance = dict(info.get("provenance") or {})
        provenance.setdefault("saved_at", _dt.datetime.now(_dt.timezone.utc).isoformat())
        info.update(
            library="claimstance",
            version=__version__,
            labels=list(self.labels),
            max_length=int(self.max_length),
            truncation=modeldir.TRUNCATION_STRATEGY,
            temperature=float(self.temperature),
            provenance=provenance,
        )
        info.pop("context_encoding", None)
        if self.context_encoding is not None:
            info["context_encoding"] = self.context_encoding
        info.pop("base_model", None)  # saved weights are complete: no base to overlay
        info.pop("source", None)
        (path / modeldir.STANCE_CONFIG).write_text(json.dumps(info, indent=2) + "\n")
        return path

    # ---------------------------------------------------------------- internals
    def _probabilities(self, pairs: Any, warn_from: int) -> np.ndarray:
        """:meth:`predict_proba`; a warning points ``warn_from`` frames up."""
        claims, responses, contexts = coerce_rows(pairs)
        if not self.context_for_model(given=contexts is not None, stacklevel=warn_from):
            contexts = None
        probabilities, truncated = self.predict_proba_with_truncation(
            claims, responses, contexts=contexts
        )
        fix = "Pass a larger max_length to StanceClassifier.load if the cut text matters."
        count = int(truncated.sum())
        warn_truncated(count, len(claims), self.max_length, fix=fix, stacklevel=warn_from)
        return probabilities

    def _get_runtime(self) -> tuple[torch.nn.Module, PairTokenizer]:
        """The eval-mode model in its compute dtype and the pair tokenizer, built once.

        Safe to call from several threads: the first build happens under a lock, and
        what it returns is only read afterwards (the tokenizer copies are never
        reconfigured), so one classifier can serve concurrent ``predict_proba`` calls.
        """
        runtime = self._runtime
        if runtime is not None:
            return runtime
        with _RUNTIME_LOCK:
            if self._runtime is None:
                self._runtime = self._build_runtime()
            return self._runtime

    def _build_runtime(self) -> tuple[torch.nn.Module, PairTokenizer]:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not isinstance(self.max_length, int) or self.max_length < 8:
            raise ConfigError(f"max_length must be an integer >= 8, got {self.max_length!r}")
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = resolve_dtype(self.precision, device)
        model = self.model
        if dtype != torch.float32 or device.type != "cpu":
            model = copy.deepcopy(self.model).to(device=device, dtype=dtype)
        model.eval()
        return model, PairTokenizer(self.tokenizer, self.max_length, self.context_encoding)

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype forward passes run in (resolved from ``precision``)."""
        return next(self._get_runtime()[0].parameters()).dtype

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else 0

    def _uses_token_types(self) -> bool:
        return uses_token_types(self.tokenizer, self.model.config)

    def __repr__(self) -> str:
        source = self.info.get("source", "?")
        context = f", context_encoding={self.context_encoding!r}" if self.uses_context else ""
        return (
            f"StanceClassifier(source={source!r}, labels={list(self.labels)}, "
            f"max_length={self.max_length}, precision={self.precision!r}{context})"
        )
