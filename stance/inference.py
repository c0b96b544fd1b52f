"""Fast batched inference for cross-encoders: tokenization, length sorting, bf16.

The pieces :class:`stance.StanceClassifier` is built from. Pairs are tokenized with
the Rust tokenizer in one call, sorted by length so each batch pads to little more
than its own longest pair, run through the model under ``torch.inference_mode``,
and put back in input order.

Truncation keeps the claim whole and cuts the response (``only_second``). Only when
the claim alone does not fit is the claim cut as well (``longest_first``). Every
truncated pair is counted.

An optional conversation context (the post a reply answers) goes into segment B before
the response: ``[CLS] claim [SEP] context [SEP] response [SEP]``
(:data:`stance.modeldir.CONTEXT_ENCODING`). It gets only the room the pair leaves, so
the claim and the response are kept whole first and the context is cut from its start.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stance.label_mapping import check_pair_order

PRECISIONS = ("auto", "bf16", "fp32")
CHARS_PER_TOKEN_BOUND = 32  # longer texts are cut to max_length * this many characters first


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX).

    Without them bf16 is emulated and slower than fp32, so ``precision="auto"`` uses fp32.
    """
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in checks:
        check = getattr(torch.cpu, name, None)
        try:
            if check is not None and check():
                return True
        except (RuntimeError, AttributeError):  # pragma: no cover - depends on the build
            continue
    return False


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """Pick the compute dtype for ``precision`` (``auto``, ``bf16`` or ``fp32``) on ``device``.

    >>> resolve_dtype("fp32", torch.device("cpu"))
    torch.float32
    """
    from stance.errors import ConfigError

    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return torch.float32
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    elif device.type == "cpu":
        supported = cpu_supports_bf16()
    else:
        supported = False
    if precision == "bf16" and not supported:
        raise ConfigError(
            f"precision='bf16' was requested but {device} has no native bf16 support; "
            "use precision='auto' (picks fp32 here) or precision='fp32'"
        )
    return torch.bfloat16 if supported else torch.float32


def check_context_encoding(encoding: str | None) -> str | None:
    """``encoding`` when it is ``None`` (no context) or a known context encoding.

    >>> check_context_encoding("context_sep_response")
    'context_sep_response'
    """
    from stance.errors import ConfigError
    from stance.modeldir import CONTEXT_ENCODINGS

    if encoding is not None and encoding not in CONTEXT_ENCODINGS:
        raise ConfigError(
            f"context_encoding must be None or one of {list(CONTEXT_ENCODINGS)}, got {encoding!r}"
        )
    return encoding


@dataclass(frozen=True)
class EncodedPairs:
    """Token ids of tokenized pairs (unpadded) and which pairs were truncated.

    ``truncated`` marks pairs whose claim or response was cut; ``context_cut`` marks rows
    whose context was shortened or left out for lack of room (``None`` when no context
    was encoded).
    """

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    truncated: np.ndarray  # bool, one per pair
    context_cut: np.ndarray | None = None  # bool, one per pair

    def __len__(self) -> int:
        return len(self.input_ids)


_plain_backends_lock = threading.Lock()
_plain_backends: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def plain_backend(tokenizer: Any) -> Any:
    """A private copy of a fast tokenizer's Rust backend, no truncation or padding, made
    once per tokenizer; ``None`` for a slow tokenizer.

    A copy, because calling the shared HF tokenizer reconfigures its backend, which is
    not thread-safe; the copy's settings never change, so threads may share it.
    """
    with _plain_backends_lock:
        if tokenizer not in _plain_backends:
            backend = getattr(tokenizer, "backend_tokenizer", None)
            plain = None
            if backend is not None:
                from tokenizers import Tokenizer

                plain = Tokenizer.from_str(backend.to_str())
                plain.no_truncation()
                plain.no_padding()
            _plain_backends[tokenizer] = plain
        return _plain_backends[tokenizer]


class PairTokenizer:
    """Tokenizes (claim, response) pairs, claim kept whole, response cut first.

    With ``context_encoding`` (:data:`stance.modeldir.CONTEXT_ENCODING`) :meth:`encode`
    also takes one context per pair (``None`` for none), encoded as segment B =
    ``context [SEP] response``; the context is cut first, from its start.

    Thread-safe: the Rust tokenizer's truncation settings are fixed once on private
    copies, and a lock guards the slow-tokenizer fallback.
    """

    def __init__(
        self,
        tokenizer,
        max_length: int,
        context_encoding: str | None = None,
        pair_order: str = "claim_first",
    ) -> None:
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.context_encoding = check_context_encoding(context_encoding)
        self.pair_order = check_pair_order(pair_order)
        if self.context_encoding is not None and self.response_first:
            from stance.errors import ConfigError

            raise ConfigError(
                "a context encoding puts the claim first; it cannot be used with "
                "pair_order='response_first'"
            )
        self._lock = threading.Lock()
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            from tokenizers import Tokenizer

            self._claim_whole = Tokenizer.from_str(backend.to_str())
            self._claim_whole.no_padding()
            self._claim_whole.enable_truncation(self.max_length, strategy=self._keep_claim)
            self._both_cut = Tokenizer.from_str(backend.to_str())
            self._both_cut.no_padding()
            self._both_cut.enable_truncation(self.max_length, strategy="longest_first")
            self._plain = plain_backend(tokenizer)  # counts tokens of long texts
        else:
            self._claim_whole = self._both_cut = self._plain = None

    @property
    def response_first(self) -> bool:
        """Whether segment A is the response (an NLI model: premise, hypothesis)."""
        return self.pair_order == "response_first"

    @property
    def _keep_claim(self) -> str:
        """The truncation strategy that cuts only the response, wherever it is."""
        return "only_first" if self.response_first else "only_second"

    def _ordered(self, claims: Sequence[Any], responses: Sequence[Any]) -> tuple[list, list]:
        """(segment A, segment B) texts for the pair order."""
        if self.response_first:
            return list(responses), list(claims)
        return list(claims), list(responses)

    def encode(
        self,
        claims: Sequence[str],
        responses: Sequence[str],
        contexts: Sequence[str | None] | None = None,
    ) -> EncodedPairs:
        """Tokenize pairs (with ``contexts``: triples) without padding.

        ``contexts`` needs a ``context_encoding``; a ``None`` context leaves its row
        encoded as the plain pair.

        >>> enc = pair_tokenizer.encode(["claim"], ["response"])  # doctest: +SKIP
        >>> enc = pair_tokenizer.encode(["X?"], ["Exactly."], ["X is false."])  # doctest: +SKIP
        """
        claims, responses = _valid_unicode(claims), _valid_unicode(responses)
        if contexts is not None:
            return self._encode_with_context(claims, responses, list(contexts))
        if self._claim_whole is None:
            return self._encode_slow(claims, responses)
        encodings = self._pair_encodings(claims, responses)
        return EncodedPairs(
            input_ids=[e.ids for e in encodings],
            token_type_ids=[e.type_ids for e in encodings],
            truncated=np.fromiter((bool(e.overflowing) for e in encodings), bool, len(encodings)),
        )

    def _pair_encodings(self, claims: Sequence[str], responses: Sequence[str]) -> list[Any]:
        """Rust encodings of the pairs, claim kept whole (cut too only if it alone overflows)."""
        bounded = [
            (self._bounded(c), self._bounded(r)) for c, r in zip(claims, responses, strict=True)
        ]
        claim_tokens = self._plain.encode_batch(
            [claim for claim, _ in bounded], add_special_tokens=False
        )
        pairs = [(r, c) if self.response_first else (c, r) for c, r in bounded]
        fits = self._claim_fits([len(encoding.ids) for encoding in claim_tokens])
        encodings: list[Any] = [None] * len(pairs)
        for tokenizer, rows in (
            (self._claim_whole, np.flatnonzero(fits)),
            (self._both_cut, np.flatnonzero(~fits)),
        ):
            for i, encoding in zip(
                rows, tokenizer.encode_batch([pairs[i] for i in rows]), strict=True
            ):
                encodings[i] = encoding
        return encodings

    def _claim_fits(self, claim_lengths: Sequence[int]) -> np.ndarray:
        """Which claims leave room for at least one response token. ``only_second``
        truncation refuses the others (it may cut only the response), so ``longest_first``
        cuts their claims too."""
        if self._claim_whole is not None:
            specials = self._claim_whole.num_special_tokens_to_add(True)
        else:
            specials = self.tokenizer.num_special_tokens_to_add(pair=True)
        return np.asarray(claim_lengths, dtype=int) < self.max_length - specials

    def _encode_with_context(
        self, claims: list[str], responses: list[str], contexts: list[str | None]
    ) -> EncodedPairs:
        """Triples as ``[CLS] claim [SEP] context [SEP] response [SEP]``; see the module doc."""
        from stance.errors import ConfigError

        if self.context_encoding is None:
            raise ConfigError(
                "contexts were passed to a PairTokenizer without a context_encoding (the "
                "model was trained without context); pass contexts=None, or build it with "
                "context_encoding=stance.modeldir.CONTEXT_ENCODING"
            )
        if len(contexts) != len(claims):
            raise ConfigError(
                f"expected {len(claims)} contexts (one per pair), got {len(contexts)}"
            )
        if self._claim_whole is None:
            raise ConfigError(
                f"context input needs a fast (Rust) tokenizer; {type(self.tokenizer).__name__} "
                "is a slow one. Save the model with its fast tokenizer (tokenizer.json)"
            )
        separator = self.tokenizer.sep_token_id
        if separator is None:
            raise ConfigError(
                f"context input puts the tokenizer's separator token between context and "
                f"response, but {type(self.tokenizer).__name__} has no sep_token"
            )
        encodings = self._pair_encodings(claims, responses)
        given = [i for i, context in enumerate(contexts) if context is not None]
        given_texts = _valid_unicode([contexts[i] for i in given])
        tails = [self._bounded(text, keep_end=True) for text in given_texts]
        tokenized = self._plain.encode_batch(tails, add_special_tokens=False) if tails else []
        context_ids = dict(zip(given, (t.ids for t in tokenized), strict=True))
        input_ids, type_ids = [], []
        context_cut = np.zeros(len(encodings), dtype=bool)
        for i, encoding in enumerate(encodings):
            ids, types = list(encoding.ids), list(encoding.type_ids)
            if i in context_ids:
                room = self.max_length - len(ids) - 1  # one more separator
                kept = context_ids[i][-room:] if room > 0 else []
                context_cut[i] = len(kept) < len(context_ids[i])
                if kept:
                    sequence = encoding.sequence_ids
                    start = next((j for j, s in enumerate(sequence) if s == 1), len(ids) - 1)
                    segment = [types[start]] * (len(kept) + 1)
                    ids[start:start] = [*kept, separator]
                    types[start:start] = segment
            input_ids.append(ids)
            type_ids.append(types)
        truncated = np.fromiter((bool(e.overflowing) for e in encodings), bool, len(encodings))
        return EncodedPairs(input_ids, type_ids, truncated, context_cut)

    def _bounded(self, text: str, keep_end: bool = False) -> str:
        """``text`` cut, at a word boundary, to a prefix (``keep_end``: a suffix) that still
        has more than ``max_length`` tokens; short texts unchanged.

        The Rust tokenizer materialises every overflow window of a truncated pair, which
        for two 1 MB texts cut ``longest_first`` is quadratic (tens of GB). A prefix that
        ends between words tokenizes to a prefix of the full text's tokens, and as it
        alone overflows ``max_length`` the pair is truncated to the same tokens. A context
        is cut from its start, so it keeps a suffix that starts between words: all of the
        context that could be kept.
        """
        limit = self.max_length * CHARS_PER_TOKEN_BOUND
        while len(text) > limit:
            if keep_end:
                cut = text[-limit:]
                space = next((i for i in range(limit // 2) if cut[i].isspace()), None)
                if space is not None:
                    cut = cut[space + 1 :]
            else:
                cut = text[:limit]
                space = next(
                    (i for i in range(limit - 1, limit // 2, -1) if cut[i].isspace()), None
                )
                if space is not None:
                    cut = cut[:space]
            if len(self._plain.encode(cut, add_special_tokens=False).ids) > self.max_length:
                return cut
            limit *= 4  # few tokens per character (long unknown words): take more
        return text

    def _encode_slow(self, claims: Sequence[str], responses: Sequence[str]) -> EncodedPairs:
        first, second = self._ordered(claims, responses)
        with self._lock:
            full = self.tokenizer(first, second, truncation=False)
            lengths = np.array([len(ids) for ids in full["input_ids"]])
            truncated = lengths > self.max_length
            if truncated.any():
                claim_ids = self.tokenizer(list(claims), add_special_tokens=False)["input_ids"]
                fits = self._claim_fits([len(ids) for ids in claim_ids]).all()
                out = self.tokenizer(
                    first,
                    second,
                    truncation=self._keep_claim if fits else "longest_first",
                    max_length=self.max_length,
                )
            else:
                out = full
        type_ids = out.get("token_type_ids") or [[0] * len(ids) for ids in out["input_ids"]]
        return EncodedPairs(list(out["input_ids"]), list(type_ids), truncated)


def _valid_unicode(texts: Sequence[str]) -> list[str]:
    """``texts`` with lone surrogates (which UTF-8 cannot hold) replaced by U+FFFD.

    Python strings may hold them (e.g. ``"\\ud800"`` in a JSON line), but the Rust
    tokenizer refuses such strings; a surrogate pair split in two is joined back.

    >>> _valid_unicode(["ok", "a\\ud800b", "\\ud83d\\ude00"]) == ["ok", "a\\ufffdb", "\\U0001f600"]
    True
    """
    return [text if text.isascii() else _replace_surrogates(text) for text in texts]


def _replace_surrogates(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def uses_token_types(tokenizer: Any, model_config: Any) -> bool:
    """Whether the model reads token type ids (BERT's segment ids): its tokenizer makes
    them and its config has more than one type. Training and inference pass them by the
    same rule."""
    names = getattr(tokenizer, "model_input_names", None) or []
    return "token_type_ids" in names and getattr(model_config, "type_vocab_size", 2) > 1


def pad_batch(
    encoded: EncodedPairs, rows: Sequence[int], pad_id: int, with_token_types: bool
) -> dict[str, torch.Tensor]:
    """Right-pad the given rows of ``encoded`` into model inputs."""
    length = max(len(encoded.input_ids[i]) for i in rows)
    ids = np.full((len(rows), length), pad_id, dtype=np.int64)
    types = np.zeros((len(rows), length), dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for j, i in enumerate(rows):
        n = len(encoded.input_ids[i])
        ids[j, :n] = encoded.input_ids[i]
        types[j, :n] = encoded.token_type_ids[i]
        mask[j, :n] = 1
    batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if with_token_types:
        batch["token_type_ids"] = torch.from_numpy(types)
    return batch


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, longest first.

    >>> [b.tolist() for b in length_sorted_batches([3, 9, 5, 1], 2)]
    [[1, 2], [0, 3]]
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def run_sorted_batches(
    forward: Callable[[dict[str, torch.Tensor]], np.ndarray],
    encoded: EncodedPairs,
    batch_size: int,
    pad_id: int,
    with_token_types: bool,
    n_outputs: int,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``forward`` (padded batch -> ``(rows, n_outputs)`` array) over ``encoded`` pairs in
    length-sorted batches; float32 results in input order. Any runtime fits ``forward``
    (:meth:`Runtime.logits` passes the PyTorch model's).
    """
    out = np.empty((len(encoded), n_outputs), dtype=np.float32)
    lengths = [len(ids) for ids in encoded.input_ids]
    for rows in length_sorted_batches(lengths, batch_size):
        out[rows] = forward(pad_batch(encoded, rows, pad_id, with_token_types))
        if on_batch is not None:
            on_batch(len(rows))
    return out


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in float64, rows summing to 1.

    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- the runtime
@dataclass(frozen=True, kw_only=True)
class Settings:
    """How a :class:`~stance.StanceClassifier` runs; checked when made, fixed after.

    ``max_length``, ``precision``, ``device`` and ``context_encoding`` shape the
    :class:`Runtime` built from them once; ``batch_size`` and ``temperature`` are read at
    each call. All six stay fixed so that a classifier shared by threads never changes
    under a running call (``StanceClassifier.with_settings`` makes one with others).

    >>> Settings(max_length=128, batch_size=0, precision="fp32", device=None,
    ...          temperature=1.0, context_encoding=None)
    Traceback (most recent call last):
    ...
    stance.errors.ConfigError: batch_size must be a positive integer, got 0
    """

    max_length: int
    batch_size: int
    precision: str
    device: str | None
    temperature: float
    context_encoding: str | None
    pair_order: str = "claim_first"
    """Which text is segment A (see :data:`stance.model_config.PAIR_ORDERS`)."""

    def __post_init__(self) -> None:
        from stance.errors import ConfigError

        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not _is_int(self.max_length) or self.max_length < 8:
            raise ConfigError(f"max_length must be an integer >= 8, got {self.max_length!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise ConfigError(f"temperature must be a positive number, got {self.temperature!r}")
        check_context_encoding(self.context_encoding)
        check_pair_order(self.pair_order)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Runtime:
    """What forward passes run on, built once from :class:`Settings`: the model in eval
    mode in its compute dtype on its device, the pair tokenizer, and how batches are cut
    and padded. Immutable, so threads may share it.

    >>> probabilities, truncated = clf.runtime.probabilities(
    ...     ["Prices rose."], ["Prices fell."], temperature=1.0)  # doctest: +SKIP
    """

    model: torch.nn.Module
    pair_tokenizer: PairTokenizer
    batch_size: int
    pad_id: int
    """The token id that pads a batch (the tokenizer's pad token, else 0)."""
    with_token_types: bool
    """Whether batches carry token type ids (see :func:`uses_token_types`)."""

    @property
    def dtype(self) -> torch.dtype:
        """The dtype forward passes run in."""
        return next(self.model.parameters()).dtype

    def probabilities(
        self,
        claims: Sequence[str],
        responses: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        *,
        temperature: float,
        on_batch: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of ``softmax(logits / temperature)``, input order, and a boolean
        mask of truncated pairs, for already-validated text.

        ``contexts`` (one per pair, ``None`` for none) need a runtime with a context
        encoding. ``on_batch`` is called with the number of pairs after each forward pass.
        """
        encoded = self.pair_tokenizer.encode(claims, responses, contexts)
        return softmax(self.logits(encoded, on_batch), temperature), encoded.truncated

    def logits(
        self, encoded: EncodedPairs, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Logits (float32 numpy, input order) of the model on ``encoded`` pairs, in
        length-sorted batches."""
        device = next(self.model.parameters()).device

        def forward(batch: dict[str, torch.Tensor]) -> np.ndarray:
            batch = {k: v.to(device) for k, v in batch.items()}
            return self.model(**batch).logits.float().cpu().numpy()

        with torch.inference_mode():
            return run_sorted_batches(
                forward,
                encoded,
                self.batch_size,
                self.pad_id,
                self.with_token_types,
                self.model.config.num_labels,
                on_batch,
            )


def build_runtime(model: torch.nn.Module, tokenizer: Any, settings: Settings) -> Runtime:
    """The :class:`Runtime` for ``settings``: ``model`` itself when it runs in fp32 on the
    CPU, else a copy in the compute dtype on the device (the caller's model is not moved).
    """
    device = torch.device(settings.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = resolve_dtype(settings.precision, device)
    if dtype != torch.float32 or device.type != "cpu":
        model = copy.deepcopy(model).to(device=device, dtype=dtype)
    model.eval()
    pad = tokenizer.pad_token_id
    return Runtime(
        model=model,
        pair_tokenizer=PairTokenizer(
            tokenizer, settings.max_length, settings.context_encoding, settings.pair_order
        ),
        batch_size=settings.batch_size,
        pad_id=int(pad) if pad is not None else 0,
        with_token_types=uses_token_types(tokenizer, model.config),
    )
