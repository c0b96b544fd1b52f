"""The built-model cache: a shipped delta or adapter is built once, then read from the cache.

The "shipped" models here are tiny: a delta and a LoRA adapter over the tiny random model
of conftest.py, put in place of the shipped folders; the cache root is a temporary folder.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from stance import StanceClassifier, built_cache, modeldir
from stance.built_cache import CacheWarning

PAIRS = [("the offensive has failed", "no it does not"), ("prices rose", "prices fell")]


def _tuned(base_dir: Path, seed: int) -> StanceClassifier:
    """The base with every weight but the word embeddings nudged, as training would."""
    clf = StanceClassifier.load(base_dir, precision="fp32")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in clf.model.named_parameters():
            if "word_embeddings" not in name:
                parameter.add_(1e-1 * torch.randn(parameter.shape, generator=generator))
    return clf


def _write_delta(base_dir: Path, folder: Path, seed: int = 0) -> None:
    tuned = _tuned(base_dir, seed)
    modeldir.save_delta(tuned.model, str(base_dir), folder)
    _write_stance_config(folder, tuned.labels, base_dir)


def _write_stance_config(folder: Path, labels, base_dir: Path) -> None:
    """The stance config of weights stored relative to ``base_dir``, its digest pinned."""
    config = {
        "labels": list(labels),
        "max_length": 64,
        "base_model": str(base_dir),
        "base_sha256": modeldir.file_sha256(base_dir / "model.safetensors"),
    }
    (folder / "stance_config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def delta_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A delta over the tiny model, as the shipped default model is over MiniLM."""
    folder = tmp_path_factory.mktemp("tiny-delta")
    _write_delta(tiny_model_dir, folder)
    return folder


@pytest.fixture()
def shipped(delta_dir, monkeypatch, tmp_path) -> Path:
    """A copy of the tiny delta as the shipped default model, with an empty cache root;
    returns the copy."""
    folder = tmp_path / "default_model"
    shutil.copytree(delta_dir, folder)
    monkeypatch.setattr(modeldir, "DEFAULT_MODEL_DIR", folder)
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    return folder


@pytest.fixture()
def builds(monkeypatch) -> list[Path]:
    """The folders whose delta is built (added to its base), one item per build."""
    calls: list[Path] = []
    real = modeldir._load_delta
    monkeypatch.setattr(modeldir, "_load_delta", lambda f, c: calls.append(f) or real(f, c))
    return calls


def _entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "built").iterdir())


def _probabilities(model: str | Path) -> np.ndarray:
    return StanceClassifier.load(model, precision="fp32").predict_proba(PAIRS)


def _forbid_builds(monkeypatch) -> None:
    def fail(folder, config):
        raise AssertionError(f"{folder} was rebuilt instead of read from the cache")

    monkeypatch.setattr(modeldir, "_load_delta", fail)
    monkeypatch.setattr(modeldir, "_load_adapter", fail)


def test_a_second_load_reads_the_cache_with_identical_probabilities(
    shipped, builds, monkeypatch, tmp_path
):
    first = StanceClassifier.load(precision="fp32")
    assert builds == [shipped]
    [entry] = _entries(tmp_path)
    assert entry.name.startswith("default_model-")
    names = {p.name for p in entry.iterdir()}
    assert names == {"config.json", "model.safetensors", "built.json", ".verified.json"}
    rebuilt = _probabilities(shipped)  # a folder given by path is built, not cached
    assert len(builds) == 2
    _forbid_builds(monkeypatch)
    cached = StanceClassifier.load(precision="fp32")
    assert cached.info["source"] == "default"
    assert cached.model.config.name_or_path == str(shipped)
    np.testing.assert_array_equal(cached.predict_proba(PAIRS), first.predict_proba(PAIRS))
    np.testing.assert_array_equal(cached.predict_proba(PAIRS), rebuilt)


def test_a_folder_given_by_path_is_not_cached(shipped, tmp_path):
    StanceClassifier.load(shipped)
    assert not (tmp_path / "cache").exists()


def test_an_adapter_is_cached_like_a_delta(tiny_model_dir, monkeypatch, tmp_path):
    from peft import LoraConfig, TaskType, get_peft_model

    plain = StanceClassifier.load(tiny_model_dir, precision="fp32")
    adapter = get_peft_model(
        plain.model, LoraConfig(task_type=TaskType.SEQ_CLS, r=2, target_modules=["query"])
    )
    with torch.no_grad():  # a trained adapter: LoRA's B starts at zero
        for name, parameter in adapter.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    folder = tmp_path / "large_model"
    adapter.save_pretrained(folder)
    _write_stance_config(folder, plain.labels, tiny_model_dir)
    monkeypatch.setattr(modeldir, "LARGE_MODEL_DIR", folder)
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    first = _probabilities("large")
    [entry] = _entries(tmp_path)
    assert json.loads((entry / "built.json").read_text())["inputs"]["kind"] == "adapter"
    _forbid_builds(monkeypatch)
    np.testing.assert_array_equal(_probabilities("large"), first)


def test_a_changed_model_file_builds_a_new_entry(
    shipped, builds, tiny_model_dir, monkeypatch, tmp_path
):
    before = _probabilities("default")
    _write_delta(tiny_model_dir, shipped, seed=1)  # other fine-tuned weights, same names
    after = _probabilities("default")
    assert len(builds) == 2
    assert len(_entries(tmp_path)) == 2
    assert not np.allclose(after, before)
    np.testing.assert_array_equal(after, _probabilities(shipped))
    _forbid_builds(monkeypatch)
    np.testing.assert_array_equal(_probabilities("default"), after)


def test_the_key_follows_digests_and_versions_not_paths(shipped, monkeypatch, tmp_path):
    digests = {"recorded:model.safetensors": "a" * 64}

    def key(folder: Path, **changes) -> str:
        base = changes.pop("base_digests", digests)
        return built_cache.cache_key(
            built_cache.key_inputs(folder, kind="delta", base_digests=base)
        )

    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(shipped, copy)
    assert key(copy) == key(shipped)
    assert key(shipped, base_digests={"recorded:model.safetensors": "b" * 64}) != key(shipped)
    with open(copy / "stance_config.json", "a") as f:
        f.write("\n")
    assert key(copy) != key(shipped)
    original = key(shipped)
    monkeypatch.setattr(built_cache, "__version__", "99.0")
    assert key(shipped) != original


def test_an_unwritable_cache_still_loads_and_warns_once(shipped, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    root = blocker / "cache"  # cannot be created, even by root
    monkeypatch.setenv("STANCE_CACHE_DIR", str(root))
    with pytest.warns(CacheWarning) as caught:
        first = _probabilities("default")
    [warning] = [w for w in caught if issubclass(w.category, CacheWarning)]
    message = str(warning.message)
    assert str(root / "built") in message
    assert "$STANCE_CACHE_DIR" in message
    assert warning.filename == __file__  # points at the load that asked for the model
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        second = _probabilities("default")
    assert not [w for w in again if issubclass(w.category, CacheWarning)]
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, _probabilities(shipped))


def test_a_damaged_cached_file_is_detected_and_rebuilt(shipped, builds, tmp_path):
    first = _probabilities("default")
    [entry] = _entries(tmp_path)
    weights = entry / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # one weight changed, the size kept
    weights.write_bytes(bytes(data))
    np.testing.assert_array_equal(_probabilities("default"), first)
    assert len(builds) == 2
    assert _entries(tmp_path) == [entry]
    key = json.loads((entry / "built.json").read_text())["key"]
    assert built_cache.entry_is_valid(entry, key)
    assert not list((tmp_path / "cache" / "built").glob(".staging-*"))


def test_a_touched_entry_is_hashed_once_then_trusted(shipped, monkeypatch, tmp_path):
    _probabilities("default")
    [entry] = _entries(tmp_path)
    (entry / "model.safetensors").touch()  # a new modification time, the same bytes
    hashed: list[Path] = []
    real = built_cache.file_sha256
    monkeypatch.setattr(built_cache, "file_sha256", lambda p: hashed.append(p) or real(p))
    _forbid_builds(monkeypatch)
    _probabilities("default")
    assert [p for p in hashed if p.parent == entry] == [entry / "model.safetensors"]
    hashed.clear()
    _probabilities("default")
    assert not [p for p in hashed if p.parent == entry]


def test_a_writer_that_finishes_second_keeps_the_first_copy(shipped, monkeypatch, tmp_path):
    """Two loads at once: while this one builds, another writes the entry first; this one
    then finds a good entry in place, keeps it and leaves no staging folder behind."""
    real = modeldir._load_delta
    calls: list[int] = []

    def build_while_another_finishes(folder, config):
        calls.append(1)
        if len(calls) == 1:
            StanceClassifier.load()  # the other load: builds (call 2) and writes the entry
            [entry] = _entries(tmp_path)
            stamp = (entry / "built.json").stat().st_mtime_ns
            calls.append(stamp)
        return real(folder, config)

    monkeypatch.setattr(modeldir, "_load_delta", build_while_another_finishes)
    first = _probabilities("default")
    assert len(calls) == 3
    [entry] = _entries(tmp_path)
    assert (entry / "built.json").stat().st_mtime_ns == calls[2]  # the first copy stayed
    assert not list((tmp_path / "cache" / "built").glob(".staging-*"))
    _forbid_builds(monkeypatch)
    np.testing.assert_array_equal(_probabilities("default"), first)
