"""Safe loading: safetensors only, no remote code, broken directories named in the error."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from stance import ModelLoadError, StanceClassifier
from stance.cli import main

PACKAGE = Path(__file__).resolve().parent.parent / "stance"


def _copy(tiny_model_dir: Path, tmp_path: Path, name: str = "model") -> Path:
    folder = tmp_path / name
    shutil.copytree(tiny_model_dir, folder)
    return folder


class _Exploit:
    """Unpickling this writes a marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def _write_exploit(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"bert.pooler.dense.weight": _Exploit(marker)}))


def test_pickle_only_directory_is_refused_naming_the_file(tiny_model_dir, tmp_path, monkeypatch):
    folder = _copy(tiny_model_dir, tmp_path)
    state = StanceClassifier.load(tiny_model_dir).model.state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called on a pickle checkpoint")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin.*pickle.*safetensors"):
        StanceClassifier.load(folder)


def test_pickle_next_to_safetensors_is_never_unpickled(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    marker = tmp_path / "exploited"
    _write_exploit(folder / "pytorch_model.bin", marker)
    clf = StanceClassifier.load(folder)
    assert clf.predict([("prices rose", "prices fell")])[0] in clf.labels
    assert not marker.exists()


def test_trust_remote_code_is_never_enabled_in_the_package():
    sources = {path: path.read_text() for path in PACKAGE.rglob("*.py")}
    enabled = [
        str(path)
        for path, text in sources.items()
        if re.search(r"trust_remote_code\s*=\s*(?!False\b)", text)
    ]
    assert enabled == [], f"trust_remote_code set to something other than False in {enabled}"
    passes = sum(len(re.findall(r"trust_remote_code=False", text)) for text in sources.values())
    assert passes >= 3  # every transformers entry point gets an explicit False


def test_auto_map_code_in_the_model_directory_is_not_executed(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    marker = tmp_path / "remote-code-ran"
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertConfig as EvilConfig\n"
        "from transformers import BertForSequenceClassification as EvilModel\n"
        "from transformers import BertTokenizerFast as EvilTokenizer\n"
    )
    for name, mapping in (
        ("config.json", {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}),
        ("tokenizer_config.json", {"AutoTokenizer": [None, "evil.EvilTokenizer"]}),
    ):
        config = json.loads((folder / name).read_text())
        config["auto_map"] = {**mapping, "AutoModelForSequenceClassification": "evil.EvilModel"}
        (folder / name).write_text(json.dumps(config))
    clf = StanceClassifier.load(folder)
    assert type(clf.model).__name__ == "BertForSequenceClassification"
    clf.predict([("prices rose", "prices fell")])
    assert not marker.exists(), "code from the model directory was executed"


@pytest.mark.parametrize(
    ("removed", "message"),
    [
        (("tokenizer.json", "vocab.txt"), r"no tokenizer vocabulary: expected tokenizer\.json"),
        (("tokenizer.json", "vocab.txt", "tokenizer_config.json"), r"expected tokenizer\.json"),
    ],
)
def test_missing_tokenizer_files_fail_naming_them(tiny_model_dir, tmp_path, removed, message):
    folder = _copy(tiny_model_dir, tmp_path)
    for name in removed:
        (folder / name).unlink()
    with pytest.raises(ModelLoadError, match=message):
        StanceClassifier.load(folder)


def test_damaged_tokenizer_json_is_named(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": ')
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json"):
        StanceClassifier.load(folder)


def test_tokenizer_from_another_model_is_refused(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    (folder / "tokenizer.json").unlink()
    vocab = (folder / "vocab.txt").read_text().splitlines()
    (folder / "vocab.txt").write_text("\n".join(vocab + [f"word{i}" for i in range(40)]) + "\n")
    with pytest.raises(ModelLoadError, match=r"vocab\.txt.*vocab_size=.*different models"):
        StanceClassifier.load(folder)


def test_weights_that_do_not_match_the_config_name_both_files(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_size=64, intermediate_size=128)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError) as failure:
        StanceClassifier.load(folder)
    message = str(failure.value)
    assert "model.safetensors does not match" in message and "config.json" in message
    assert re.search(r"file \(\d+(, \d+)?\), config\.json \(\d+", message)  # shapes shown


def test_truncated_safetensors_is_named(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match=r"model\.safetensors is damaged or incomplete"):
        StanceClassifier.load(folder)


def test_missing_shard_is_named(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    shard = "model-00002-of-00002.safetensors"
    index = {"metadata": {}, "weight_map": {"classifier.weight": shard}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match="model-00002-of-00002.safetensors"):
        StanceClassifier.load(folder)


def test_config_from_a_newer_version_warns_once_with_the_versions(tiny_model_dir, tmp_path):
    from stance import __version__

    folder = _copy(tiny_model_dir, tmp_path)
    info = json.loads((folder / "stance_config.json").read_text())
    info["version"] = "99.0"
    (folder / "stance_config.json").write_text(json.dumps(info))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StanceClassifier.load(folder)
    newer = [w for w in caught if "newer" in str(w.message)]
    assert len(newer) == 1, [str(w.message) for w in caught]
    text = str(newer[0].message)
    assert "99.0" in text and __version__ in text and "pip install -U claimstance" in text


def test_current_version_does_not_warn(tiny_model_dir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StanceClassifier.load(tiny_model_dir)
    assert not [w for w in caught if "newer" in str(w.message)]


@pytest.mark.parametrize(
    "damage",
    ["pickle-only", "no-tokenizer", "shape-mismatch", "truncated-weights", "bad-config"],
)
def test_cli_model_problems_exit_4_without_traceback(tiny_model_dir, tmp_path, capsys, damage):
    folder = _copy(tiny_model_dir, tmp_path)
    if damage == "pickle-only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif damage == "no-tokenizer":
        (folder / "tokenizer.json").unlink()
        (folder / "vocab.txt").unlink()
    elif damage == "shape-mismatch":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 64}))
    elif damage == "truncated-weights":
        (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    else:
        (folder / "config.json").write_text("{not json")
    code = main(["predict", "a claim", "a response", "--model", str(folder)])
    err = capsys.readouterr().err
    assert code == 4, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert str(folder) in err
