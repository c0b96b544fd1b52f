"""The example files the README's commands use: every subcommand runs on them.

A tiny model stands in for the default model and for MiniLM (the README's commands use
those); the point is that the files and the config are valid inputs, end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stance import StanceClassifier
from stance.calibration import fit_temperature, logits_of
from stance.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_score_labels_every_example_pair(tiny_model_dir, tmp_path):
    out = tmp_path / "scored.csv"
    args = ["score", str(EXAMPLES / "pairs.csv"), "-o", str(out), "-m", str(tiny_model_dir), "-q"]
    assert main(args) == 0
    scored = pd.read_csv(out)
    assert len(scored) == len(pd.read_csv(EXAMPLES / "pairs.csv")) == 10
    assert set(scored["label"]) <= {"support", "denial", "neutral"}
    assert scored["error"].isna().all()


def test_labelled_examples_are_balanced_with_a_dev_split():
    frame = pd.read_csv(EXAMPLES / "labelled.csv")
    assert frame["id"].is_unique
    counts = frame.groupby(["split", "label"]).size().unstack()
    assert (counts.loc["train"] == 12).all() and (counts.loc["dev"] == 4).all()
    assert not set(frame.loc[frame["split"] == "dev", "claim"]) & set(
        frame.loc[frame["split"] == "train", "claim"]
    ), "dev claims must not appear in train"


def test_eval_and_calibrate_run_on_the_labelled_examples(tiny_model_dir, tmp_path):
    data = str(EXAMPLES / "labelled.csv")
    report = tmp_path / "report"
    args = ["--filter", "split=dev", "-m", str(tiny_model_dir)]
    assert main(["eval", data, *args, "--report", str(report)]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["data"]["rows_after_filter"] == 12
    calibrated = tmp_path / "calibrated"
    assert main(["calibrate", data, *args, "--output-model", str(calibrated)]) == 0
    # the copy holds the temperature that fits the 12 dev rows, and says so
    dev = pd.read_csv(EXAMPLES / "labelled.csv").query("split == 'dev'")
    clf = StanceClassifier.load(tiny_model_dir)  # the precision the command used
    logits = logits_of(clf, dev["claim"].tolist(), dev["response"].tolist())
    gold = np.array([clf.labels.index(label) for label in dev["label"]])
    copy = StanceClassifier.load(calibrated)
    assert copy.temperature == pytest.approx(fit_temperature(logits, gold))
    assert copy.temperature != clf.temperature
    assert copy.config.calibration["rows"] == 12
    assert copy.config.calibration["filters"] == {"split": ["dev"]}


def test_example_training_config_trains(tiny_base_dir, tmp_path):
    out = tmp_path / "run"
    overrides = [f"base_model={tiny_base_dir}", f"data_dir={EXAMPLES}", "epochs=1"]
    assert main(["train", str(EXAMPLES / "train.yaml"), "--output", str(out), *overrides]) == 0
    info = json.loads((out / "stance_config.json").read_text())
    rows = {source["name"]: source["rows"] for source in info["provenance"]["sources"]}
    assert rows == {"examples-train": 36}
    assert info["provenance"]["validation_rows"] == 12
    assert StanceClassifier.load(out).labels == ("support", "denial", "neutral")
