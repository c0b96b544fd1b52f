"""Training on the HF Trainer with a tiny random model: learning, resume, config errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stance import StanceClassifier, modeldir
from stance.errors import ConfigError, InputDataError
from stance.training import prepare_data, train
from stance.training_config import TrainConfig

FILLER = [
    "the",
    "a",
    "city",
    "minister",
    "report",
    "government",
    "police",
    "election",
    "vote",
    "river",
    "storm",
]
CUES = {"support": "yes", "denial": "no", "neutral": "said"}


def synthetic_pairs(
    n: int, seed: int, label_names=("support", "denial", "neutral")
) -> pd.DataFrame:
    """Pairs whose label is decided by one cue word hidden among filler words."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = label_names[i % len(label_names)]
        cue = CUES[["support", "denial", "neutral"][i % 3]]
        words = list(rng.choice(FILLER, rng.integers(2, 6)))
        words.insert(int(rng.integers(0, len(words) + 1)), cue)
        claim = " ".join(rng.choice(FILLER, 3))
        rows.append({"claim": f"{claim} {i % 7}", "response": " ".join(words), "stance": label})
    return pd.DataFrame(rows)


def base_config(tmp_path, tiny_base_dir, **extra) -> dict:
    train_file = tmp_path / "train.csv"
    synthetic_pairs(300, seed=1).to_csv(train_file, index=False)
    dev_file = tmp_path / "dev.jsonl"
    synthetic_pairs(60, seed=2).to_json(dev_file, orient="records", lines=True)
    config = {
        "base_model": str(tiny_base_dir),
        "sources": [{"path": str(train_file), "label_column": "stance", "licence": "synthetic"}],
        "validation": {"sources": [{"path": str(dev_file), "label_column": "stance"}]},
        "output_dir": str(tmp_path / "out"),
        "epochs": 8,
        "batch_size": 16,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "max_length": 32,
        "precision": "fp32",
        "logging_steps": 1000,
        "early_stopping_patience": None,
    }
    config.update(extra)
    return config


def assert_saved_label_map(out, labels) -> None:
    """The model directory ``out`` maps column i to ``labels[i]``, everywhere it says so."""
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {str(i): label for i, label in enumerate(labels)}
    assert config["label2id"] == {label: i for i, label in enumerate(labels)}
    assert json.loads((out / "stance_config.json").read_text())["labels"] == list(labels)
    loaded = StanceClassifier.load(out, precision="fp32")
    assert list(loaded.classes_) == list(labels)
    assert loaded.model.config.id2label == dict(enumerate(labels))


def test_focal_loss_with_class_weights_learns_the_cue(tmp_path, tiny_base_dir):
    config = base_config(tmp_path, tiny_base_dir, focal_gamma=2.0, class_weights="balanced")
    clf = train(TrainConfig.from_dict(config), progress=False)
    held_out = synthetic_pairs(90, seed=3)
    predicted = np.array(clf.predict(held_out[["claim", "response"]]))
    assert np.mean(predicted == held_out["stance"].to_numpy()) > 0.8  # chance is 1/3


def test_training_learns_the_cue_and_writes_a_loadable_model(tmp_path, tiny_base_dir):
    config = TrainConfig.from_dict(base_config(tmp_path, tiny_base_dir))
    clf = train(config, progress=False)
    assert isinstance(clf, StanceClassifier)
    held_out = synthetic_pairs(90, seed=3)
    predicted = clf.predict(held_out[["claim", "response"]])
    accuracy = float(np.mean(np.array(predicted) == held_out["stance"].to_numpy()))
    assert accuracy > 0.8, accuracy  # chance is 1/3
    out = tmp_path / "out"
    card = (out / "README.md").read_text()
    assert "synthetic" in card and "macro_f1" in card
    info = json.loads((out / "stance_config.json").read_text())
    assert info["provenance"]["metrics"]["validation"]["eval_macro_f1"] > 0.8
    assert (out / "training_config.yaml").is_file()
    assert_saved_label_map(out, ("support", "denial", "neutral"))
    again = StanceClassifier.load(out, precision="fp32")
    np.testing.assert_allclose(
        again.predict_proba(held_out[["claim", "response"]]),
        clf.predict_proba(held_out[["claim", "response"]]),
    )


def test_stance_train_is_the_public_entry_point():
    import stance

    assert stance.train is train


def test_custom_label_set_and_label_map(tmp_path, tiny_base_dir):
    frame = synthetic_pairs(120, seed=1)
    frame["stance"] = frame["stance"].map({"support": "pro", "denial": "con", "neutral": "other"})
    path = tmp_path / "four.parquet"
    frame.to_parquet(path)
    config = base_config(
        tmp_path,
        tiny_base_dir,
        labels=["for", "against", "other"],
        sources=[
            {
                "path": str(path),
                "label_column": "stance",
                "label_map": {"pro": "for", "con": "against"},
            }
        ],
        validation={"fraction": 0.2},
        epochs=1,
    )
    # The label map is applied to the data: pro -> for, con -> against, other as it is.
    prepared = prepare_data(TrainConfig.from_dict(config))
    rows = pd.concat([prepared.train, prepared.validation], ignore_index=True)
    assert prepared.labels == ("for", "against", "other")
    assert len(prepared.validation) > 0
    original = frame.set_index(["claim", "response"])["stance"]
    assert original.index.is_unique
    pairs = zip(rows["claim"], rows["response"], rows["label"], strict=True)
    mapped = {(original[(claim, response)], label) for claim, response, label in pairs}
    assert mapped == {("pro", "for"), ("con", "against"), ("other", "other")}
    assert rows["label"].value_counts().to_dict() == {"for": 40, "against": 40, "other": 40}

    clf = train(TrainConfig.from_dict(config), progress=False)
    assert clf.labels == ("for", "against", "other")
    assert list(clf.classes_) == ["for", "against", "other"]
    out = tmp_path / "out"
    assert_saved_label_map(out, ("for", "against", "other"))
    provenance = json.loads((out / "stance_config.json").read_text())["provenance"]
    assert provenance["sources"][0]["label_map"] == {"pro": "for", "con": "against"}


def test_unknown_labels_fail_with_values_and_counts(tmp_path, tiny_base_dir):
    config = base_config(tmp_path, tiny_base_dir, labels=["support", "denial"])
    with pytest.raises(InputDataError, match=r"'neutral' \(100 rows\)"):
        train(TrainConfig.from_dict(config), progress=False)


LORA = {"r": 4, "alpha": 8, "target_modules": ["query", "value"]}


def test_lora_saves_only_the_adapter_and_loads_on_its_base(tmp_path, tiny_base_dir):
    config = base_config(tmp_path, tiny_base_dir, lora=LORA)
    config["epochs"] = 2
    clf = train(TrainConfig.from_dict(config), progress=False)
    out = tmp_path / "out"
    assert (out / "adapter_model.safetensors").is_file()
    assert not (out / "model.safetensors").exists()
    info = json.loads((out / "stance_config.json").read_text())
    assert info["base_model"] == str(tiny_base_dir)
    pairs = [("the city vote", "yes the minister")]
    np.testing.assert_allclose(
        StanceClassifier.load(out, precision="fp32").predict_proba(pairs), clf.predict_proba(pairs)
    )
    merged = clf.save(tmp_path / "merged")  # a plain HF directory, adapter merged in
    assert (merged / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def stage1_adapter(tmp_path_factory, tiny_base_dir) -> Path:
    """An adapter folder trained once with :data:`LORA`, to continue in several tests."""
    folder = tmp_path_factory.mktemp("stage1")
    first = base_config(folder, tiny_base_dir, lora=LORA)
    first["output_dir"] = str(folder / "model")
    train(TrainConfig.from_dict(first), progress=False)
    return folder / "model"


def test_an_adapter_as_base_model_is_continued_as_one_adapter_on_its_base(
    tmp_path, tiny_base_dir, stage1_adapter
):
    stage1 = StanceClassifier.load(stage1_adapter, precision="fp32")
    second = base_config(tmp_path, tiny_base_dir, base_model=str(stage1_adapter), lora=LORA)
    second["output_dir"] = str(tmp_path / "stage2")
    second["learning_rate"] = 5e-3
    stage2 = train(TrainConfig.from_dict(second), progress=False)
    out = tmp_path / "stage2"
    info = json.loads((out / "stance_config.json").read_text())
    assert info["base_model"] == str(tiny_base_dir)  # the adapter's base, not stage 1
    assert info["provenance"]["base_model"] == str(stage1_adapter)
    pairs = [("the city vote", "yes the minister"), ("a claim", "no it is not")]
    reloaded = StanceClassifier.load(out, precision="fp32").predict_proba(pairs)
    np.testing.assert_allclose(reloaded, stage2.predict_proba(pairs), atol=1e-6)
    assert not np.allclose(reloaded, stage1.predict_proba(pairs), atol=1e-4)


def test_a_continued_adapter_refuses_other_lora_settings(tmp_path, tiny_base_dir, stage1_adapter):
    other = {**LORA, "r": 8}
    second = base_config(tmp_path, tiny_base_dir, base_model=str(stage1_adapter), lora=other)
    with pytest.raises(ConfigError, match=r"lora must match it \(r: 4, .*\); r differ"):
        train(TrainConfig.from_dict(second), progress=False)


def test_an_adapter_without_lora_is_fine_tuned_merged(tmp_path, tiny_base_dir, stage1_adapter):
    second = base_config(tmp_path, tiny_base_dir, base_model=str(stage1_adapter))
    second["output_dir"] = str(tmp_path / "full")
    train(TrainConfig.from_dict(second), progress=False)
    assert (tmp_path / "full" / "model.safetensors").is_file()
    assert not (tmp_path / "full" / "adapter_config.json").exists()


def test_resume_continues_from_the_checkpoint(tmp_path, tiny_base_dir):
    config = base_config(tmp_path, tiny_base_dir, max_steps=6, epochs=1, eval_steps=3)
    config["early_stopping_patience"] = None
    train(TrainConfig.from_dict({**config, "max_steps": 3}), progress=False)
    checkpoints = tmp_path / "out" / "checkpoints"
    assert any(p.name == "checkpoint-3" for p in checkpoints.iterdir())
    with pytest.raises(ConfigError, match="--resume"):
        train(TrainConfig.from_dict(config), progress=False)
    train(TrainConfig.from_dict(config), resume=True, progress=False)
    state = json.loads((checkpoints / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    steps = [entry["step"] for entry in state["log_history"] if "eval_macro_f1" in entry]
    assert steps == [3, 6]  # the resumed run kept the first run's history


def test_yaml_config_with_overrides(tmp_path, tiny_base_dir):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(base_config(tmp_path, tiny_base_dir)))
    config = TrainConfig.from_yaml(path, ["epochs=2", "sources.0.max_rows=50", "lora.r=4"])
    assert config.epochs == 2.0
    assert config.sources[0].max_rows == 50
    assert config.lora is not None and config.lora.r == 4


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"learnig_rate": 1e-4},
            "unknown key 'learnig_rate' in config. Did you mean 'learning_rate'",
        ),
        ({"epochs": "many"}, "epochs must be a number"),
        ({"labels": "fnc"}, "Did you mean 'fnc1'"),
        ({"class_weights": "auto"}, "class_weights must be null or 'balanced'"),
        ({"focal_gamma": -1}, r"focal_gamma must be null or >= 0 \(0 is plain cross-entropy"),
        ({"focal_gamma": 2, "debias": {}}, "focal_gamma and debias each replace"),
        ({"lr_scheduler": "cosin"}, "Did you mean 'cosine'"),
        ({"sources": []}, "at least one training file"),
        ({"validation": {"fracton": 0.1}}, "unknown key 'fracton' in validation"),
    ],
)
def test_config_errors_say_what_and_how(tmp_path, tiny_base_dir, change, message):
    config = base_config(tmp_path, tiny_base_dir)
    config.update(change)
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(config)


REPO = Path(__file__).resolve().parent.parent
NOT_TRAINING_CONFIGS = {"eval_suite.yaml"}  # run_suite's config, checked in test_evaluation


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (REPO / "configs").glob("*.yaml") if p.name not in NOT_TRAINING_CONFIGS),
    ids=lambda p: p.name,
)
def test_every_shipped_training_config_passes_its_checks(path):
    config = TrainConfig.from_yaml(path)
    assert config.sources and config.labels


def test_yaml_boolean_label_needs_quotes(tmp_path, tiny_base_dir):
    config = base_config(tmp_path, tiny_base_dir)
    config["sources"][0]["label_map"] = {True: "support"}
    with pytest.raises(ConfigError, match="quote it"):
        TrainConfig.from_dict(config)


def test_torchrun_data_parallel_training(tmp_path, tiny_base_dir):
    """`torchrun --nproc_per_node=2 -m stance train` runs DDP (gloo on CPU) and saves once."""
    import socket
    import subprocess
    import sys

    import yaml

    config = base_config(tmp_path, tiny_base_dir, epochs=8)
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={port}",
        "-m", "stance", "train", str(path), "--quiet",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads(
        max((tmp_path / "out" / "checkpoints").glob("checkpoint-*/trainer_state.json")).read_text()
    )
    # 300 rows, 2 processes x batch 16 -> 10 steps per epoch (not 19 as on one process)
    assert state["global_step"] == 80
    clf = StanceClassifier.load(tmp_path / "out", precision="fp32")
    held_out = synthetic_pairs(60, seed=3)
    accuracy = np.mean(np.array(clf.predict(held_out[["claim", "response"]])) == held_out["stance"])
    assert accuracy > 0.8


def test_missing_data_file_says_how_to_point_data_dir_at_it(tmp_path, tiny_base_dir):
    config = base_config(tmp_path, tiny_base_dir)
    config["data_dir"] = str(tmp_path / "elsewhere")
    config["sources"] = [{"path": "rumoureval2019/pairs.jsonl", "name": "rumours"}]
    with pytest.raises(InputDataError) as caught:
        train(TrainConfig.from_dict(config), progress=False)
    message = str(caught.value)
    assert "source 'rumours'" in message and f"data_dir ({tmp_path / 'elsewhere'})" in message
    assert "data_dir=/path/to/data" in message


def test_train_fraction_keeps_a_nested_share_after_the_claim_disjoint_validation(
    tmp_path, tiny_base_dir
):
    frame = synthetic_pairs(120, seed=4)
    path = tmp_path / "pairs.parquet"
    frame.to_parquet(path)

    def prepared(share):
        config = base_config(
            tmp_path,
            tiny_base_dir,
            sources=[{"path": str(path), "label_column": "stance"}],
            validation={"fraction": 0.25},
            train_fraction=share,
        )
        return prepare_data(TrainConfig.from_dict(config))

    full, quarter, half = prepared(1.0), prepared(0.25), prepared(0.5)
    # the held-out claims do not move with the share of training rows
    for part in (quarter, half):
        pd.testing.assert_frame_equal(part.validation, full.validation)
    assert len(quarter.train) == round(len(full.train) * 0.25)
    assert len(half.train) == round(len(full.train) * 0.5)

    def pairs(data):
        return set(zip(data.train["claim"], data.train["response"], strict=True))

    assert pairs(quarter) < pairs(half) < pairs(full)


@pytest.mark.parametrize("share", [0, -0.5, 1.5])
def test_train_fraction_out_of_range_says_what_it_means(tmp_path, tiny_base_dir, share):
    config = base_config(tmp_path, tiny_base_dir, train_fraction=share)
    with pytest.raises(ConfigError, match=r"train_fraction must be in \(0, 1\].*1 keeps all"):
        TrainConfig.from_dict(config)


PROBE_PAIRS = [("the city vote", "yes the minister"), ("a storm report", "no said the police")]


def frozen_config(tmp_path, tiny_base_dir, **extra) -> TrainConfig:
    """One optimiser step at learning rate 0: the trained weights are the base's."""
    config = base_config(tmp_path, tiny_base_dir, learning_rate=0.0, max_steps=1, **extra)
    config["validation"] = {"fraction": 0.0}
    return TrainConfig.from_dict(config)


def test_training_from_the_shipped_model_continues_its_head(
    tmp_path, tiny_base_dir, tiny_model_dir, monkeypatch
):
    monkeypatch.setattr(modeldir, "DEFAULT_MODEL_DIR", tiny_model_dir)
    clf = train(frozen_config(tmp_path, tiny_base_dir, base_model="stance:default"), progress=False)
    shipped = StanceClassifier.load(precision="fp32")
    np.testing.assert_allclose(
        clf.predict_proba(PROBE_PAIRS), shipped.predict_proba(PROBE_PAIRS), atol=1e-6
    )
    provenance = json.loads((tmp_path / "out" / "stance_config.json").read_text())["provenance"]
    assert provenance["base_model"] == "stance:default"


def test_a_base_with_the_same_labels_in_another_order_keeps_each_label(
    tmp_path, tiny_base_dir, tiny_model_dir
):
    config = frozen_config(
        tmp_path,
        tiny_base_dir,
        base_model=str(tiny_model_dir),
        labels=["neutral", "support", "denial"],
    )
    clf = train(config, progress=False)
    base = StanceClassifier.load(tiny_model_dir, precision="fp32")
    assert list(clf.classes_) == ["neutral", "support", "denial"]
    np.testing.assert_allclose(
        clf.predict_proba(PROBE_PAIRS), base.predict_proba(PROBE_PAIRS)[:, [2, 0, 1]], atol=1e-6
    )


def test_a_base_trained_for_other_labels_warns_that_its_head_is_new(
    tmp_path, tiny_base_dir, tiny_fnc_model_dir
):
    config = frozen_config(tmp_path, tiny_base_dir, base_model=str(tiny_fnc_model_dir))
    with pytest.warns(
        UserWarning,
        match=r"\['agree', 'disagree', 'discuss', 'unrelated'\]; this "
        r"config trains \['support', 'denial', 'neutral'\], so the classification "
        "head starts from random weights",
    ):
        clf = train(config, progress=False)
    assert list(clf.classes_) == ["support", "denial", "neutral"]


def test_lora_on_the_shipped_model_says_to_save_it_first(tmp_path, tiny_base_dir):
    config = base_config(tmp_path, tiny_base_dir, base_model="stance:default", lora={"r": 4})
    with pytest.raises(ConfigError, match=r"StanceClassifier.load\(\).save\('DIR'\)"):
        TrainConfig.from_dict(config)


def test_a_continued_adapter_learns_other_labels_from_its_stance_rows(
    tmp_path, tiny_base_dir, stage1_adapter
):
    second = base_config(tmp_path, tiny_base_dir, base_model=str(stage1_adapter), lora=LORA)
    second["labels"] = ["agree", "disagree", "discuss"]
    label_map = {"support": "agree", "denial": "disagree", "neutral": "discuss"}
    second["sources"][0]["label_map"] = label_map
    second["validation"]["sources"][0]["label_map"] = label_map
    second["output_dir"] = str(tmp_path / "fnc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = train(TrainConfig.from_dict(second), progress=False)
    assert not [w for w in caught if "fresh weights" in str(w.message)]  # each has a stance row
    out = tmp_path / "fnc"
    assert (out / "adapter_model.safetensors").is_file()
    info = json.loads((out / "stance_config.json").read_text())
    assert info["base_model"] == str(tiny_base_dir)
    assert info["labels"] == ["agree", "disagree", "discuss"]
    reloaded = StanceClassifier.load(out, precision="fp32")
    assert list(reloaded.classes_) == ["agree", "disagree", "discuss"]
    pairs = [("the city vote", "yes the minister"), ("a claim", "no it is not")]
    np.testing.assert_allclose(reloaded.predict_proba(pairs), clf.predict_proba(pairs), atol=1e-6)
