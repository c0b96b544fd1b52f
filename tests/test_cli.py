"""The `stance` CLI: predict, score (formats, bad rows, columns, resume after kill -9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from stance.cli import main

WORDS = "the offensive has failed no it does not prices rose fell city minister denied".split()


def make_pairs(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "claim": [" ".join(rng.choice(WORDS, rng.integers(2, 6))) for _ in range(n)],
            "response": [" ".join(rng.choice(WORDS, rng.integers(1, 12))) for _ in range(n)],
            "extra": [f"x{i}" for i in range(n)],
        }
    )


def write(frame: pd.DataFrame, path) -> None:
    name = str(path)
    if name.endswith((".csv", ".csv.gz")):
        frame.to_csv(path, index=False)
    elif name.endswith((".jsonl", ".jsonl.gz")):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)


def read(path) -> pd.DataFrame:
    name = str(path)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    if name.endswith((".jsonl", ".jsonl.gz")):
        return pd.read_json(path, lines=True)
    return pd.read_parquet(path)


def test_predict_prints_label_and_probabilities(tiny_model_dir, capsys):
    assert main(["predict", "the offensive has failed", "no", "--model", str(tiny_model_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] in ("support", "denial", "neutral")
    assert [line.split()[0] for line in lines[1:]] == ["support", "denial", "neutral"]


def test_predict_json(tiny_model_dir, capsys):
    code = main(["predict", "prices rose", "prices fell", "-m", str(tiny_model_dir), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["probabilities"]) == {"support", "denial", "neutral"}
    assert abs(sum(result["probabilities"].values()) - 1) < 1e-4
    assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)


@pytest.mark.parametrize("in_ext", ["csv", "csv.gz", "jsonl", "jsonl.gz", "parquet"])
@pytest.mark.parametrize("out_ext", ["csv", "jsonl.gz", "parquet"])
def test_score_every_format_keeps_rows_and_columns(
    tiny_clf, tiny_model_dir, tmp_path, in_ext, out_ext
):
    frame = make_pairs(37)
    source, target = tmp_path / f"in.{in_ext}", tmp_path / f"out.{out_ext}"
    write(frame, source)
    code = main(
        [
            "score",
            str(source),
            "-o",
            str(target),
            "-m",
            str(tiny_model_dir),
            "--quiet",
            "--precision",
            "fp32",
            "--batch-size",
            "4",
        ]
    )
    assert code == 0
    out = read(target)
    assert list(out.columns) == [
        "id",
        "claim",
        "response",
        "extra",
        "label",
        "p_support",
        "p_denial",
        "p_neutral",
        "error",
    ]
    # CSV cells are text: ids read from a CSV stay the strings they were.
    assert out["id"].astype(str).tolist() == [str(i) for i in range(37)]
    assert out["extra"].tolist() == frame["extra"].tolist()
    expected = tiny_clf.predict_proba(frame[["claim", "response"]])
    np.testing.assert_allclose(out[["p_support", "p_denial", "p_neutral"]], expected, atol=1e-5)
    assert out["label"].tolist() == tiny_clf.predict(frame[["claim", "response"]])
    assert (out["error"].isna() | out["error"].astype(str).eq("")).all()
    assert not (tmp_path / f"out.{out_ext}.partial").exists()


def test_bad_rows_stay_with_an_error_and_no_label(tiny_model_dir, tmp_path, capsys):
    rows = [
        {"claim": "prices rose", "response": "prices fell"},
        {"claim": "", "response": "prices fell"},
        {"claim": "prices rose", "response": None},
        {"claim": 5, "response": "prices fell"},
        {"claim": "prices rose", "response": "   "},
        {"claim": "the city", "response": "no"},
    ]
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["score", str(source), "-o", str(target), "-m", str(tiny_model_dir), "-q"]) == 0
    out = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(out) == 6
    assert [r["error"] for r in out] == [
        "",
        "claim is empty",
        "response is missing",
        "claim is not text (got int 5)",
        "response is empty",
        "",
    ]
    assert [r["label"] is None for r in out] == [False, True, True, True, True, False]
    assert out[3]["claim"] == 5  # input values pass through untouched
    assert "4 rows could not be scored" in capsys.readouterr().err


def test_summary_line_counts_one_row_and_a_slow_rate(tiny_model_dir, tmp_path, capsys):
    from stance import cli
    from stance.scoring import ScoreSummary

    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("claim,response\nprices rose,prices fell\n")
    assert main(["score", str(source), "-o", str(target), "-m", str(tiny_model_dir), "-q"]) == 0
    assert f"scored 1 row -> {target} (1 row in " in capsys.readouterr().err
    slow = cli.summary_line(ScoreSummary(output=target, rows=1, seconds=2.4))
    assert slow.endswith("(1 row in 2.4 s, 0.42 rows/s)")
    fast = cli.summary_line(ScoreSummary(output=target, rows=5000, seconds=2.0, resumed_rows=1000))
    assert "scored 5,000 rows (1,000 done before resuming)" in fast
    assert fast.endswith("(4,000 rows in 2.0 s, 2,000 rows/s)")


def test_missing_column_lists_columns_and_closest_match(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "in.csv"
    make_pairs(3).rename(columns={"response": "reply"}).to_csv(source, index=False)
    code = main(["score", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(tiny_model_dir)])
    assert code == 3
    err = capsys.readouterr().err
    assert "no response column 'response'" in err and "'reply'" in err
    assert "--response-column" in err and "Traceback" not in err


def test_column_options(tiny_clf, tiny_model_dir, tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    frame = make_pairs(5).rename(columns={"claim": "headline", "response": "body"})
    frame.to_csv(source, index=False)
    code = main(
        [
            "score",
            str(source),
            "-o",
            str(target),
            "-m",
            str(tiny_model_dir),
            "-q",
            "--precision",
            "fp32",
            "--claim-column",
            "headline",
            "--response-column",
            "body",
        ]
    )
    assert code == 0
    out = read(target)
    # The named columns are kept under their own names, in place; no claim/response added.
    assert list(out.columns) == [
        "id",
        "headline",
        "body",
        "extra",
        "label",
        "p_support",
        "p_denial",
        "p_neutral",
        "error",
    ]
    assert out[["id", "headline", "body", "extra"]].astype(str).values.tolist() == (
        frame.astype(str).values.tolist()
    )
    # The scores are those of (headline, body): the named columns are what was scored.
    pairs = list(zip(frame["headline"], frame["body"], strict=True))
    np.testing.assert_allclose(
        out[["p_support", "p_denial", "p_neutral"]], tiny_clf.predict_proba(pairs), atol=1e-5
    )
    assert out["label"].tolist() == tiny_clf.predict(pairs)
    swapped = tiny_clf.predict_proba([(b, h) for h, b in pairs])
    assert not np.allclose(out[["p_support", "p_denial", "p_neutral"]], swapped, atol=1e-3)
    assert (out["error"].isna() | out["error"].astype(str).eq("")).all()


def test_existing_label_column_needs_a_prefix(tiny_clf, tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "in.csv"
    frame = make_pairs(4).assign(label="support")
    frame.to_csv(source, index=False)
    target = tmp_path / "out.csv"
    assert main(["score", str(source), "-o", str(target), "-m", str(tiny_model_dir), "-q"]) == 3
    assert "--prefix" in capsys.readouterr().err
    args = ["score", str(source), "-o", str(target), "-m", str(tiny_model_dir), "-q"]
    assert main([*args, "--precision", "fp32", "--prefix", "pred_"]) == 0
    out = read(target)
    assert list(out.columns) == [
        "id",
        "claim",
        "response",
        "extra",
        "label",
        "pred_label",
        "pred_p_support",
        "pred_p_denial",
        "pred_p_neutral",
        "pred_error",
    ]
    assert out["label"].eq("support").all()  # the input's own column is untouched
    pairs = frame[["claim", "response"]]
    assert out["pred_label"].tolist() == tiny_clf.predict(pairs)
    np.testing.assert_allclose(
        out[["pred_p_support", "pred_p_denial", "pred_p_neutral"]],
        tiny_clf.predict_proba(pairs),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (b"claim,response\nprices rose,\xe9t\xe9\n", "line 2"),
        (b'claim,response\n"prices rose,fell\n', "in.csv"),
        (b"claim,response\na,b,c\n", "line 2"),
    ],
)
def test_unreadable_input_names_file_and_line(tiny_model_dir, tmp_path, capsys, content, message):
    source = tmp_path / "in.csv"
    source.write_bytes(content)
    code = main(["score", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_user_errors_have_exit_codes(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "in.csv"
    make_pairs(2).to_csv(source, index=False)
    assert main(["score", str(tmp_path / "none.csv"), "-o", str(tmp_path / "o.csv")]) == 3
    assert (
        main(["score", str(source), "-o", str(tmp_path / "o.xlsx"), "-m", str(tiny_model_dir)]) == 2
    )
    assert (
        main(["score", str(source), "-o", str(tmp_path / "o.csv"), "-m", str(tmp_path / "nomodel")])
        == 4
    )
    assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(source), "-o", "o.csv", "--batch-size", "0"])
    assert exit_info.value.code == 2


def _score_command(source, target, model_dir, *extra):
    return [
        sys.executable,
        "-m",
        "stance",
        "score",
        str(source),
        "-o",
        str(target),
        "-m",
        str(model_dir),
        "--quiet",
        "--precision",
        "fp32",
        *extra,
    ]


def test_resume_after_kill_9_gives_every_row_exactly_once(tiny_model_dir, tmp_path):
    from stance import scoring

    frame = make_pairs(6 * scoring.CHUNK_ROWS, seed=3)
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    frame.to_csv(source, index=False)
    env = dict(os.environ)
    process = subprocess.Popen(_score_command(source, target, tiny_model_dir), env=env)
    partial = tmp_path / "out.csv.partial"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        manifest = partial / "manifest.json"
        if (
            manifest.exists()
            and json.loads(manifest.read_text()).get("rows_done", 0) >= scoring.CHUNK_ROWS
        ):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the scorer finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not target.exists()
    refused = subprocess.run(
        _score_command(source, target, tiny_model_dir), env=env, capture_output=True, text=True
    )
    assert refused.returncode == 5 and "--resume" in refused.stderr
    resumed = subprocess.run(
        _score_command(source, target, tiny_model_dir, "--resume"),
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "done before resuming" in resumed.stderr
    out = read(target)
    assert out["id"].tolist() == list(range(len(frame)))
    sample = out.sample(50, random_state=0)
    from stance import StanceClassifier

    clf = StanceClassifier.load(tiny_model_dir, precision="fp32")
    expected = clf.predict_proba(sample[["claim", "response"]])
    np.testing.assert_allclose(sample[["p_support", "p_denial", "p_neutral"]], expected, atol=1e-5)
