"""stance eval / calibrate and the eval suite runner, on tiny models and tiny files."""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stance.errors import ConfigError, InputDataError, StanceError
from stance.evaluation import REPORT_FILES, error_rows, evaluate, write_report

REPO = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ROWS = [
    ("The Kharkiv offensive has failed.", "No, it doesn't.", "denial", "test"),
    ("Prices rose.", "Prices fell.", "denial", "test"),
    ("The minister denied the report.", "The minister said it is true.", "denial", "test"),
    ("The storm closed the school.", "Yes, the school is closed.", "support", "test"),
    ("The bridge is open.", "It is open.", "support", "test"),
    ("The election was won.", "The vote is ongoing.", "neutral", "test"),
    ("The cat sat on the mat.", "A dog sat on the mat.", "neutral", "test"),
    ("Police confirmed the report.", "Police said the report is true.", "support", "test"),
    ("The river fell.", "", "neutral", "test"),  # empty response: excluded
    ("The city is closed.", "The city is open.", "", "test"),  # empty label: excluded
    ("The government lost the vote.", "It won the vote.", "denial", "dev"),
    ("The dog sat.", "The dog sat.", "support", "dev"),
]


def write_csv(path: Path, rows, header=("claim", "response", "label", "split")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture()
def labelled_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "labelled.csv", ROWS)


@pytest.fixture()
def model_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny model (calibration writes into its folder)."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


# --------------------------------------------------------------------------- evaluate


def test_evaluate_writes_every_report_file(tiny_clf, labelled_csv, tmp_path):
    result = evaluate(tiny_clf, labelled_csv, filters={"split": "test"})
    m = result.metrics
    assert m["n"] == 8
    assert m["excluded"] == {
        "count": 2,
        "reasons": {"response is empty": 1, "label is empty": 1},
    }
    assert m["data"]["rows_read"] == 12 and m["data"]["rows_after_filter"] == 10
    for key in (
        "n",
        "labels",
        "accuracy",
        "accuracy_ci",
        "macro_f1",
        "macro_f1_ci",
        "macro_f1_labels",
        "per_class",
        "confusion_matrix",
        "ece",
        "brier",
        "nll",
        "bootstrap",
    ):
        assert key in m, key
    assert m["labels"] == list(tiny_clf.labels)
    assert set(m["per_class"]) == set(tiny_clf.labels)
    assert np.asarray(m["confusion_matrix"]["matrix"]).sum() == 8
    assert m["bootstrap"]["resamples"] == 1000

    paths = write_report(result, tmp_path / "report")
    assert {p.name for p in (tmp_path / "report").iterdir()} == set(REPORT_FILES.values())
    for role in ("confusion_matrix", "reliability"):
        assert paths[role].read_bytes()[:8] == PNG_MAGIC
    written = json.loads(paths["metrics"].read_text())
    assert written["accuracy"] == m["accuracy"]
    report = paths["report"].read_text()
    assert "rows excluded from the metrics: 2" in report
    assert "## Confusion matrix" in report and "## Per class" in report

    errors = [json.loads(line) for line in paths["errors"].read_text().splitlines()]
    wrong = int((result.predictions["gold"] != result.predictions["predicted"]).sum())
    assert len(errors) == wrong == round(8 * (1 - m["accuracy"]))
    assert all(e["gold"] != e["predicted"] for e in errors)
    confidences = [e["confidence"] for e in errors]
    assert confidences == sorted(confidences, reverse=True)
    for e in errors:
        assert set(e) >= {"claim", "response", "gold", "predicted", "probabilities"}
        assert e["confidence"] == max(e["probabilities"].values())
        assert ROWS[e["row"]][0] == e["claim"]


def test_evaluate_matches_predict_proba(tiny_clf, labelled_csv):
    result = evaluate(tiny_clf, labelled_csv, filters=["split=test"])
    frame = result.predictions
    probs = tiny_clf.predict_proba(list(zip(frame["claim"], frame["response"], strict=True)))
    np.testing.assert_allclose(frame[[f"p_{x}" for x in tiny_clf.labels]].to_numpy(), probs)
    assert result.metrics["accuracy"] == pytest.approx(np.mean(frame["gold"] == frame["predicted"]))


def test_label_subset_reports_macro_f1_over_present_labels(tiny_clf, tmp_path):
    rows = [r for r in ROWS if r[2] in ("support", "denial") and r[1]]
    path = write_csv(tmp_path / "no_neutral.csv", rows)
    result = evaluate(tiny_clf, path)
    m = result.metrics
    assert m["macro_f1_labels"] == ["support", "denial"]
    assert m["labels_absent_from_gold"] == ["neutral"]
    assert "neutral" in m["macro_f1_note"]
    write_report(result, tmp_path / "r")
    report = (tmp_path / "r" / "report.md").read_text()
    assert "macro-F1 over support, denial" in report
    assert "never occur" in report


def test_unmapped_labels_fail_with_values_and_counts(tiny_clf, tmp_path):
    rows = [
        ("a claim", "a response", "agree", "test"),
        ("a claim", "another", "agree", "test"),
        ("a claim", "third", "discuss", "test"),
        ("a claim", "fourth", "support", "test"),
    ]
    path = write_csv(tmp_path / "fnc_like.csv", rows)
    with pytest.raises(InputDataError) as info:
        evaluate(tiny_clf, path)
    message = str(info.value)
    assert "'agree' (2 rows)" in message and "'discuss' (1 rows)" in message
    result = evaluate(tiny_clf, path, label_map=["agree=support", "discuss=neutral"])
    assert result.metrics["n"] == 4
    assert result.metrics["gold_counts"] == {"support": 3, "denial": 0, "neutral": 1}
    with pytest.raises(ConfigError, match="not in the model's labels"):
        evaluate(tiny_clf, path, label_map={"agree": "yes"})


def test_filter_that_keeps_nothing_lists_the_values(tiny_clf, labelled_csv):
    with pytest.raises(InputDataError, match="values present") as info:
        evaluate(tiny_clf, labelled_csv, filters={"split": "train"})
    assert "'test': 10" in str(info.value)


def test_evaluate_jsonl_with_dotted_filter_and_label_column(tiny_clf, tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [
        {"claim": "Prices rose.", "response": r, "stance": s, "meta": {"lang": lang}}
        for r, s, lang in [
            ("Prices fell.", "denial", "en"),
            ("Prices rose.", "support", "en"),
            ("Is that so?", "neutral", "de"),
        ]
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = evaluate(tiny_clf, path, label_column="stance", filters={"meta.lang": "en"})
    assert result.metrics["n"] == 2
    assert sorted(result.predictions["gold"]) == ["denial", "support"]


def test_fnc_model_gets_the_fnc_score(tiny_fnc_model_dir, tmp_path):
    from stance import StanceClassifier
    from stance.metrics import fnc_score

    clf = StanceClassifier.load(tiny_fnc_model_dir, precision="fp32")
    labels = ["agree", "disagree", "discuss", "unrelated"] * 3
    rows = [
        (f"claim {i}", f"the report said {w}", lab, "dev")
        for i, (w, lab) in enumerate(zip(["yes", "no", "it", "cat"] * 3, labels, strict=True))
    ]
    path = write_csv(tmp_path / "fnc.csv", rows)
    m = evaluate(clf, path).metrics
    frame_raw, frame_max = fnc_score(*_gold_pred(clf, path))
    assert m["fnc_score_raw"] == frame_raw
    assert m["fnc_score_max"] == frame_max == 3 * (3 * 1.0 + 0.25)
    assert m["fnc_score"] == pytest.approx(frame_raw / frame_max)


def _gold_pred(clf, path):
    result = evaluate(clf, path)
    return result.predictions["gold"].tolist(), result.predictions["predicted"].tolist()


def test_error_rows_order_ties_by_row(tiny_clf, labelled_csv):
    result = evaluate(tiny_clf, labelled_csv)
    rows = error_rows(result)
    keys = [(-e["confidence"], e["row"]) for e in rows]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    from stance.cli_eval import register

    parser = argparse.ArgumentParser(prog="stance")
    register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_eval_writes_the_report(tiny_model_dir, labelled_csv, tmp_path, capsys):
    args = _parser().parse_args(
        [
            "eval",
            str(labelled_csv),
            "--model",
            str(tiny_model_dir),
            "--report",
            str(tmp_path / "out"),
            "--filter",
            "split=test",
            "--precision",
            "fp32",
            "--quiet",
        ]
    )
    assert args.handler(args) == 0
    out, err = capsys.readouterr()
    assert "rows evaluated: 8" in out and "accuracy:" in out
    assert "2 rows were left out of the metrics" in err
    assert {p.name for p in (tmp_path / "out").iterdir()} == set(REPORT_FILES.values())
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["data"]["filters"] == {"split": ["test"]}


def test_cli_eval_unmapped_labels_exit_3_with_hint(tiny_model_dir, tmp_path):
    path = write_csv(tmp_path / "x.csv", [("c", "r", "agree", "t")])
    args = _parser().parse_args(
        ["eval", str(path), "-m", str(tiny_model_dir), "--report", str(tmp_path / "o"), "-q"]
    )
    with pytest.raises(StanceError) as info:
        args.handler(args)
    assert info.value.exit_code == 3
    assert "--label-map" in str(info.value)
    assert not (tmp_path / "o").exists()


def test_cli_eval_missing_column_fails_before_loading(tmp_path):
    path = write_csv(tmp_path / "x.csv", [("c", "r", "support")], ("claim", "reponse", "label"))
    args = _parser().parse_args(["eval", str(path), "-m", str(tmp_path / "no-model")])
    with pytest.raises(InputDataError, match="Did you mean 'reponse'"):
        args.handler(args)  # a missing model would raise ModelLoadError (exit 4) instead


def test_cli_label_map_rejects_a_value_without_equals(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["eval", "--label-map", "agree=support", "data.csv"])
    assert "KEY=VALUE" in capsys.readouterr().err


# --------------------------------------------------------------------------- calibration


def _nll(clf, path) -> float:
    return evaluate(clf, path, n_resamples=10).metrics["nll"]


def test_fit_temperature_recovers_a_known_temperature():
    from stance.calibration import fit_temperature, temperature_nll

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 3))
    scaled = np.exp(logits / 2.0)
    probs = scaled / scaled.sum(axis=1, keepdims=True)
    gold = np.array([rng.choice(3, p=p) for p in probs])
    fitted = fit_temperature(logits, gold)
    assert fitted == pytest.approx(2.0, rel=0.1)
    # log-probabilities (logits shifted per row) give the same temperature
    shifted = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert fit_temperature(shifted, gold) == pytest.approx(fitted, rel=1e-3)
    assert temperature_nll(logits, gold, fitted) < temperature_nll(logits, gold, 1.0)


@pytest.fixture()
def calibration_csv(tiny_clf, tmp_path) -> Path:
    """Mostly the tiny model's own predictions (so it is right, but not always), plus the
    two rows with an empty response or label, which are excluded."""
    pairs = [(r[0], r[1]) for r in ROWS if r[1] and r[2]]
    predicted = tiny_clf.predict(pairs)
    labels = tiny_clf.labels
    rows = []
    for i, ((claim, response), label) in enumerate(zip(pairs, predicted, strict=True)):
        if i % 3 == 2:  # every third row gets another label: the model is overconfident
            label = labels[(labels.index(label) + 1) % len(labels)]
        rows.append((claim, response, label, "dev"))
    rows += [(r[0], r[1], r[2], "dev") for r in ROWS if not (r[1] and r[2])]
    return write_csv(tmp_path / "calibration.csv", rows)


def test_calibration_writes_temperature_and_lowers_nll(model_copy, calibration_csv, recwarn):
    from stance import StanceClassifier
    from stance.calibration import TEMPERATURE_BOUNDS, calibrate

    labelled_csv = calibration_csv
    before_clf = StanceClassifier.load(model_copy, precision="fp32")
    nll_before = _nll(before_clf, labelled_csv)
    result = calibrate(labelled_csv, model_copy, precision="fp32")
    assert not result.at_bound and not recwarn.list
    assert TEMPERATURE_BOUNDS[0] < result.temperature < TEMPERATURE_BOUNDS[1]
    assert result.n == 10 and result.excluded
    assert result.after["nll"] < result.before["nll"]
    assert result.before["nll"] == pytest.approx(nll_before)
    config = json.loads((model_copy / "stance_config.json").read_text())
    assert config["temperature"] == pytest.approx(result.temperature)
    assert config["temperature"] != 1.0
    assert config["calibration"]["rows"] == 10
    assert config["labels"] == list(before_clf.labels)  # the other keys are kept
    after_clf = StanceClassifier.load(model_copy, precision="fp32")
    assert after_clf.temperature == pytest.approx(result.temperature)
    assert _nll(after_clf, labelled_csv) == pytest.approx(result.after["nll"])
    assert _nll(after_clf, labelled_csv) < nll_before
    # calibration never changes a prediction
    pairs = [(r[0], r[1]) for r in ROWS if r[1]]
    assert after_clf.predict(pairs) == before_clf.predict(pairs)


def test_calibration_refuses_the_default_model_in_place(labelled_csv):
    from stance.calibration import calibrate
    from stance.modeldir import DEFAULT_MODEL_DIR

    for model in (None, DEFAULT_MODEL_DIR):
        with pytest.raises(ConfigError, match="--output-model"):
            calibrate(labelled_csv, model)


def test_calibration_output_model_writes_a_copy(tiny_model_dir, calibration_csv, tmp_path):
    from stance import StanceClassifier
    from stance.calibration import calibrate

    original = (tiny_model_dir / "stance_config.json").read_text()
    out = tmp_path / "calibrated"
    result = calibrate(calibration_csv, tiny_model_dir, output_model=out, precision="fp32")
    assert (tiny_model_dir / "stance_config.json").read_text() == original
    copy = StanceClassifier.load(out, precision="fp32")
    assert copy.temperature == pytest.approx(result.temperature)
    with pytest.raises(StanceError, match="not an empty folder"):
        calibrate(calibration_csv, tiny_model_dir, output_model=out)


def test_calibration_refuses_the_behavioural_suite(model_copy):
    from stance.calibration import calibrate

    with pytest.raises(ConfigError, match="held out"):
        calibrate(REPO / "eval" / "behavioural" / "suite.jsonl", model_copy)


def test_cli_calibrate(model_copy, calibration_csv, capsys):
    args = _parser().parse_args(
        ["calibrate", str(calibration_csv), "-m", str(model_copy), "--precision", "fp32", "-q"]
    )
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "temperature: 1 ->" in out and "NLL:" in out and "ECE:" in out
    assert json.loads((model_copy / "stance_config.json").read_text())["temperature"] != 1.0


# --------------------------------------------------------------------------- suite runner


@pytest.fixture()
def eval_scripts(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "eval"))
    for name in ("run_suite", "behavioural"):
        sys.modules.pop(name, None)
    return importlib.import_module("run_suite"), importlib.import_module("behavioural")


SUITE_ROWS = [
    ("short_denial", "The offensive has failed.", "No, it hasn't.", "denial"),
    ("short_denial", "The bridge is open.", "Not true.", "denial"),
    ("question", "Prices rose.", "Did they?", "neutral"),
    ("paraphrased_support", "The minister resigned.", "The minister has quit.", "support"),
]


def _tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"id": f"{c}-{i}", "capability": c, "claim": cl, "response": r, "label": lab}
            )
            + "\n"
            for i, (c, cl, r, lab) in enumerate(SUITE_ROWS)
        )
    )
    return path


def _suite_config(tmp_path: Path, model_dir: Path, train_rows=None) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    write_csv(data / "one.csv", ROWS)
    (data / "two.jsonl").write_text(
        "".join(
            json.dumps({"claim": c, "response": r, "orig": {"support": "pro"}.get(lab, lab)}) + "\n"
            for c, r, lab, _ in ROWS
            if r and lab
        )
    )
    train = train_rows or [
        (f"claim {i}", f"response {w} {i}", lab, "train")
        for i, (w, lab) in enumerate(
            [("yes", "support"), ("no", "denial"), ("maybe", "neutral"), ("no", "denial")] * 5
        )
    ]
    write_csv(data / "train.csv", train)
    (tmp_path / "train.yaml").write_text(
        f"data_dir: {data}\nlabels: stance3\nsources:\n  - {{path: train.csv, name: tiny}}\n"
    )
    config = tmp_path / "suite.yaml"
    config.write_text(
        f"""data_dir: {data}
batch_size: 8
precision: fp32
datasets:
  - {{name: one-test, path: one.csv, filter: {{split: test}}, metric: accuracy}}
  - name: two
    path: two.jsonl
    metric: macro_f1
    label_column: orig
    label_map: {{pro: support}}
models:
  - {{name: tiny, path: {model_dir}}}
baselines:
  training_config: {tmp_path / "train.yaml"}
behavioural: {_tiny_suite(tmp_path)}
"""
    )
    return config


def test_suite_runner_writes_a_full_leaderboard(eval_scripts, tiny_model_dir, tmp_path, capsys):
    run_suite, _ = eval_scripts
    config = _suite_config(tmp_path, tiny_model_dir)
    out = tmp_path / "results"
    assert run_suite.main([str(config), "--out", str(out), "-q"]) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    columns = [c["name"] for c in board["columns"]]
    assert columns == ["tiny", "majority", "tfidf_logreg", "claim_only"]
    assert set(board["cells"]) == {"one-test", "two"}
    for dataset, row in board["cells"].items():
        assert set(row) == set(columns)
        for name, cell in row.items():
            assert isinstance(cell["value"], float), (dataset, name, cell)
            assert 0.0 <= cell["value"] <= 1.0
            assert cell["n"] == (8 if dataset == "one-test" else 10)
    # the majority baseline predicts the most frequent training label (denial) everywhere
    assert board["cells"]["one-test"]["majority"]["value"] == pytest.approx(3 / 8)
    assert board["baselines"]["train_rows"] == 20
    behaviour = board["behavioural"]["results"]
    for name in columns:
        assert set(behaviour[name]["per_capability"]) == {
            "short_denial",
            "question",
            "paraphrased_support",
        }
        assert behaviour[name]["n"] == 4
        assert len(behaviour[name]["failures"]) == 4 - behaviour[name]["passed"]
    assert behaviour["majority"]["per_capability"]["short_denial"]["pass_rate"] == 1.0
    assert behaviour["majority"]["per_capability"]["question"]["pass_rate"] == 0.0
    markdown = (out / "leaderboard.md").read_text()
    assert f"python eval/run_suite.py {config} --out {out} -q" in markdown
    assert board["date"][:10] in markdown
    assert "| one-test | split=test | accuracy | 8 |" in markdown
    assert "| **overall** | 4 |" in markdown
    assert f"tiny = `{tiny_model_dir}` (temperature 1)" in markdown
    assert "error" not in markdown
    # the invariance suite is scored for every column; the majority class (denial) never
    # passes the off-topic pairs, which are all neutral
    invariant = board["invariance"]
    assert set(invariant) == set(columns)
    assert invariant["majority"]["per_capability"]["offtopic"]["pass_rate"] == 0.0
    assert 0.0 <= invariant["tiny"]["flip_rate"] <= 1.0
    assert "## Invariance suite (pass rate)" in markdown and "| flip rate | |" in markdown
    failures_md = (out / "behavioural.md").read_text()
    for name in columns:
        assert f"## {name}" in failures_md
        for failure in behaviour[name]["failures"]:
            assert f"| {failure['id']} |" in failures_md


def test_suite_runner_reports_failed_cells(eval_scripts, tiny_model_dir, tmp_path):
    run_suite, _ = eval_scripts
    config = _suite_config(tmp_path, tiny_model_dir)
    text = config.read_text().replace("label_map: {pro: support}", "label_map: {}")
    config.write_text(text)
    out = tmp_path / "results"
    assert run_suite.main([str(config), "--out", str(out), "-q"]) == 3
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["cells"]["two"]["tiny"]["value"] is None
    assert "'pro'" in board["cells"]["two"]["tiny"]["error"]
    assert isinstance(board["cells"]["one-test"]["tiny"]["value"], float)
    assert "error [1]" in (out / "leaderboard.md").read_text()


def test_suite_pairs_in_a_training_mix_are_refused(eval_scripts, tiny_model_dir, tmp_path):
    run_suite, _ = eval_scripts
    leak = [("The minister resigned.", "The minister  has QUIT.", "support", "train")] * 3
    leak += [("x", "y", "denial", "train")] * 3
    config = _suite_config(tmp_path, tiny_model_dir, train_rows=leak)
    with pytest.raises(ConfigError, match="behavioural suite"):
        run_suite.run(
            run_suite.load_config(config), tmp_path / "o", "cmd", str(config), progress=False
        )


def test_suite_config_checks_keys(eval_scripts, tmp_path):
    run_suite, _ = eval_scripts
    path = tmp_path / "bad.yaml"
    path.write_text("datasets:\n  - {name: a, path: a.csv, metric: acuracy}\nmodels: [default]\n")
    with pytest.raises(ConfigError, match="metric must be one of"):
        run_suite.load_config(path)
    path.write_text("dataset: []\n")
    with pytest.raises(ConfigError, match="Did you mean 'datasets'"):
        run_suite.load_config(path)


def test_eval_suite_config_lists_the_issue_datasets(eval_scripts):
    run_suite, _ = eval_scripts
    config = run_suite.load_config(REPO / "configs" / "eval_suite.yaml")
    expected = {
        "snli_esnli-test": ("accuracy", "test"),
        "sick-test": ("accuracy", "test"),
        "perspectrum-test": ("accuracy", "test"),
        "ibm_claim_stance-test": ("accuracy", "test"),
        "rumoureval2019-dev": ("macro_f1", "dev"),
        "arc-test": ("macro_f1", "test"),
        "friends_qia-test": ("macro_f1", "test"),
        "circa-test": ("macro_f1", "test"),
        "fnc1-dev": ("macro_f1", "dev"),
        "cad_nli-test": ("accuracy", "test"),
    }
    assert {d.name: (d.metric, d.filter["split"]) for d in config.datasets} == expected
    assert [m.path for m in config.models] == [None]
    assert config.baselines_config == Path("configs/default_model.yaml")
    data_dir = REPO / config.data_dir  # relative to the repository root
    if not data_dir.is_dir():
        pytest.skip(f"shared data not present at {data_dir}; only the config was checked")
    for d in config.datasets:
        assert (REPO / d.path).is_file(), d.path


def test_real_behavioural_suite_loads(eval_scripts):
    _, behavioural = eval_scripts
    suite = behavioural.load_suite()
    assert len(suite) == 354
    assert suite["capability"].nunique() == 11
    assert set(suite["label"]) == {"support", "denial", "neutral"}


def test_behavioural_score_suite_on_tiny_model(eval_scripts, tiny_clf, tmp_path):
    _, behavioural = eval_scripts
    suite = behavioural.load_suite(_tiny_suite(tmp_path))
    result = behavioural.score_suite(tiny_clf, suite)
    predicted = tiny_clf.predict(list(zip(suite["claim"], suite["response"], strict=True)))
    passed = [p == g for p, g in zip(predicted, suite["label"], strict=True)]
    assert result["passed"] == sum(passed)
    assert result["pass_rate"] == pytest.approx(np.mean(passed))
    assert result["per_capability"]["short_denial"]["n"] == 2
    assert [f["id"] for f in result["failures"]] == [
        i for i, ok in zip(suite["id"], passed, strict=True) if not ok
    ]
    table = "\n".join(behavioural.pass_rate_table({"tiny": result}))
    assert "| short_denial | 2 |" in table
    assert pd.notna(result["pass_rate"])
