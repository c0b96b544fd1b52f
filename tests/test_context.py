"""Conversation context as a third input (issue 21): API, encoding, model directory,
warnings, CLI, training configs, and a tiny model that learns to read the context."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from test_training import base_config

from stance import ContextWarning, StanceClassifier
from stance.cli import main
from stance.errors import ConfigError, InputDataError, ModelLoadError
from stance.inference import PairTokenizer
from stance.modeldir import CONTEXT_ENCODING
from stance.training import prepare_data, train
from stance.training_config import TrainConfig

FILLER = ["the", "a", "city", "minister", "report", "government", "police", "vote", "river"]
LABELS = ("support", "denial", "neutral")


def thread_rows(n: int, seed: int) -> pd.DataFrame:
    """Replies that all say "Exactly.": the label is in the parent post alone.

    The parent post holds "true" among filler words (the reply agrees with a post calling
    it true: support), "false" (denial) or an unrelated word (neutral); the claim is
    random filler, so without the parent nothing tells the labels apart.
    """
    rng = np.random.default_rng(seed)
    cues = {"support": "true", "denial": "false", "neutral": "cat"}
    rows = []
    for i in range(n):
        label = LABELS[i % 3]
        words = list(rng.choice(FILLER, rng.integers(2, 6)))
        words.insert(int(rng.integers(0, len(words) + 1)), cues[label])
        rows.append(
            {
                "claim": " ".join(rng.choice(FILLER, 3)),
                "response": "Exactly.",
                "stance": label,
                "meta": {"parent_text": " ".join(words), "depth": 2},
            }
        )
    return pd.DataFrame(rows)


def contexts_of(frame: pd.DataFrame) -> list[str]:
    return [meta["parent_text"] for meta in frame["meta"]]


def no_warnings(function, *args):
    """``function(*args)``, failing on any context warning (other packages' deprecation
    warnings, e.g. matplotlib's on a new pyparsing, are not this test's business)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContextWarning)
        return function(*args)


@pytest.fixture()
def context_clf(context_model_dir):
    return StanceClassifier.load(context_model_dir, precision="fp32")


ROWS = [
    ("the offensive has failed", "yes", "the minister denied the report"),
    ("prices rose", "no it does not", "prices fell in the city"),
    ("the bridge is closed", "it is open", None),
    ("the storm", "the river rose", float("nan")),
    ("the vote", "the election was won", "  "),
]


# --------------------------------------------------------------------------- API


def test_triples_and_dataframe_give_identical_output(context_clf):
    frame = pd.DataFrame(ROWS, columns=["claim", "response", "context"])
    from_triples = no_warnings(context_clf.predict_proba, ROWS)
    from_frame = no_warnings(context_clf.predict_proba, frame)
    assert isinstance(from_triples, np.ndarray) and from_triples.shape == (5, 3)
    np.testing.assert_array_equal(from_triples, from_frame)
    assert no_warnings(context_clf.predict, ROWS) == no_warnings(context_clf.predict, frame)
    assert all(isinstance(label, str) for label in context_clf.predict(frame))
    # None, NaN and blank contexts mean "no context": those rows score as plain pairs
    # (mixed with pairs in the same list, too); given contexts do change the scores.
    pairs = [row[:2] for row in ROWS]
    with pytest.warns(ContextWarning):
        as_pairs = context_clf.predict_proba(pairs)
    np.testing.assert_allclose(from_triples[2:], as_pairs[2:], atol=1e-6)
    assert not np.allclose(from_triples[:2], as_pairs[:2], atol=1e-3)
    mixed = no_warnings(context_clf.predict_proba, [ROWS[0], pairs[2]])
    np.testing.assert_allclose(mixed, from_triples[[0, 2]], atol=1e-6)


def test_context_that_is_not_text_is_refused(context_clf):
    with pytest.raises(InputDataError, match=r"pair 1: context is not text \(got int 5\)"):
        context_clf.predict_proba([("a", "b", "c"), ("a", "b", 5)])
    with pytest.raises(InputDataError, match=r"wrap it in a list: \[\(claim, response, context"):
        context_clf.predict_proba(("a", "b", "c"))
    with pytest.raises(InputDataError, match="pair 0: expected a .* triple"):
        context_clf.predict_proba([("a", "b", "c", "d")])


def test_model_without_context_ignores_it_with_one_warning(tiny_clf):
    pairs = [row[:2] for row in ROWS]
    expected = no_warnings(tiny_clf.predict_proba, pairs)  # pairs: no warning as before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from_triples = tiny_clf.predict_proba(ROWS)
        from_frame = tiny_clf.predict(pd.DataFrame(ROWS, columns=["claim", "response", "context"]))
    assert [w.category for w in caught] == [ContextWarning, ContextWarning]
    assert issubclass(ContextWarning, UserWarning)
    message = str(caught[0].message)
    assert "trained without context" in message and "ignored" in message
    assert caught[0].filename == __file__  # points at the caller
    np.testing.assert_array_equal(from_triples, expected)
    assert from_frame == tiny_clf.predict(pairs)


def test_model_with_context_given_none_warns_once_and_predicts(context_clf):
    pairs = [row[:2] for row in ROWS]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probabilities = context_clf.predict_proba(pairs)
    assert [w.category for w in caught] == [ContextWarning]
    assert "trained with context" in str(caught[0].message)
    assert "may be worse" in str(caught[0].message)
    assert probabilities.shape == (5, 3)
    with pytest.warns(ContextWarning, match="trained with context"):
        context_clf.predict(pd.DataFrame(pairs, columns=["claim", "response"]))


# --------------------------------------------------------------------------- encoding


def _ids(clf: StanceClassifier, text: str) -> list[int]:
    return clf.tokenizer(text, add_special_tokens=False)["input_ids"]


def test_truncation_keeps_claim_and_response_whole_and_cuts_the_context_first(context_clf):
    tokenizer = PairTokenizer(context_clf.tokenizer, 20, CONTEXT_ENCODING)
    cls, sep = context_clf.tokenizer.cls_token_id, context_clf.tokenizer.sep_token_id
    claim, response = "the minister denied the report", "no it does not"
    context = "the police said the city vote is open and the bridge is closed"
    short = "prices rose"
    claim_ids, response_ids, context_ids = (
        _ids(context_clf, t) for t in (claim, response, context)
    )
    room = 20 - len(claim_ids) - len(response_ids) - 4  # [CLS], three [SEP]
    assert 0 < room < len(context_ids)
    long_response = "prices rose in the city " * 6
    encoded = tokenizer.encode(
        [claim, claim, claim, claim], [response, response, response, long_response],
        [context, short, None, context],
    )  # fmt: skip
    # 0: the context is cut from its start; claim and response are whole, 20 tokens in all
    assert encoded.input_ids[0] == [
        cls, *claim_ids, sep, *context_ids[-room:], sep, *response_ids, sep
    ]  # fmt: skip
    a, b = len(claim_ids) + 2, room + len(response_ids) + 2
    assert encoded.token_type_ids[0] == [0] * a + [1] * b
    # 1: a short context fits whole; 2: no context is the plain pair encoding
    short_ids = _ids(context_clf, short)
    assert encoded.input_ids[1] == [cls, *claim_ids, sep, *short_ids, sep, *response_ids, sep]
    assert encoded.input_ids[2] == [cls, *claim_ids, sep, *response_ids, sep]
    assert (
        encoded.input_ids[2]
        == PairTokenizer(context_clf.tokenizer, 20).encode([claim], [response]).input_ids[0]
    )
    # 3: claim and response alone overflow: the context goes, the response is cut as a pair's
    pair = PairTokenizer(context_clf.tokenizer, 20).encode([claim], [long_response])
    assert encoded.input_ids[3] == pair.input_ids[0] and len(pair.input_ids[0]) == 20
    assert encoded.truncated.tolist() == [False, False, False, True]
    assert encoded.context_cut.tolist() == [True, False, False, True]
    # a very long context keeps its last tokens (its tail is what gets tokenized)
    huge = "the river " * 5000 + "the cat sat"
    tail = tokenizer.encode([claim], [response], [huge]).input_ids[0]
    cat_sat = _ids(context_clf, "the cat sat")
    assert tail[-len(response_ids) - 2 - len(cat_sat) : -len(response_ids) - 2] == cat_sat


def test_encoder_without_context_encoding_refuses_contexts(tiny_clf):
    with pytest.raises(ConfigError, match="without a context_encoding"):
        PairTokenizer(tiny_clf.tokenizer, 32).encode(["a"], ["b"], ["c"])
    with pytest.raises(ConfigError, match="context_encoding must be None or one of"):
        PairTokenizer(tiny_clf.tokenizer, 32, "response_then_context")


def test_model_dir_records_the_context_encoding_and_a_reload_uses_it(
    context_model_dir, tiny_model_dir, tmp_path
):
    info = json.loads((context_model_dir / "stance_config.json").read_text())
    assert info["context_encoding"] == CONTEXT_ENCODING
    assert "context_encoding" not in json.loads((tiny_model_dir / "stance_config.json").read_text())
    clf = StanceClassifier.load(context_model_dir, precision="fp32")
    assert clf.context_encoding == CONTEXT_ENCODING and clf.uses_context
    assert clf.runtime.pair_tokenizer.context_encoding == CONTEXT_ENCODING
    again = StanceClassifier.load(clf.save(tmp_path / "copy"), precision="fp32")
    assert again.context_encoding == CONTEXT_ENCODING
    np.testing.assert_array_equal(again.predict_proba(ROWS), clf.predict_proba(ROWS))
    info["context_encoding"] = "context_after_response"
    (tmp_path / "copy" / "stance_config.json").write_text(json.dumps(info))
    with pytest.raises(ModelLoadError, match="context encoding 'context_after_response'"):
        StanceClassifier.load(tmp_path / "copy")


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("column", ["parent", "meta.parent_text"])
def test_cli_score_with_context_column(context_clf, context_model_dir, replies_jsonl, column):
    path, frame = replies_jsonl
    out = path.parent / "scored.jsonl"
    argv = ["score", str(path), "-o", str(out), "-m", str(context_model_dir), "-q"]
    argv += ["--precision", "fp32", "--prefix", "pred_", "--context-column", column]
    assert no_warnings(main, argv) == 0
    scored = pd.read_json(out, lines=True)
    added = ["pred_label", *(f"pred_p_{x}" for x in LABELS), "pred_error"]
    assert list(scored.columns) == [*frame.columns, *added]  # every input column kept
    pd.testing.assert_frame_equal(scored[frame.columns], pd.read_json(path, lines=True))
    rows = list(zip(frame["claim"], frame["response"], frame["parent"], strict=True))
    expected = context_clf.predict_proba(rows)
    np.testing.assert_allclose(scored[[f"pred_p_{x}" for x in LABELS]], expected, atol=1e-5)
    assert scored["pred_label"].tolist() == context_clf.predict(rows)


def test_cli_score_context_column_errors(context_model_dir, tiny_model_dir, replies_jsonl, capsys):
    path, _ = replies_jsonl
    out = str(path.parent / "scored.jsonl")
    base = ["score", str(path), "-o", out, "-m", str(context_model_dir), "-q", "--prefix", "p_"]
    assert main([*base, "--context-column", "parnt"]) == 3
    err = capsys.readouterr().err
    assert "no context column 'parnt'" in err and "Did you mean 'parent'" in err
    assert "--context-column" in err and "Traceback" not in err
    assert main([*base, "--context-column", "meta.parent_txt"]) == 3
    assert "Did you mean 'meta.parent_text'" in capsys.readouterr().err
    assert main([*base, "--context-column", "parent", "--documents"]) == 2
    assert "--context-column ('parent') does not apply to --documents" in capsys.readouterr().err
    # a model trained without context: one warning, and the scores of the pairs alone
    plain = ["score", str(path), "-m", str(tiny_model_dir), "-q", "--prefix", "p_"]
    with pytest.warns(ContextWarning, match="trained without context") as caught:
        assert main([*plain, "-o", out, "--context-column", "meta.parent_text"]) == 0
    assert len(caught) == 1
    other = str(path.parent / "without.jsonl")
    assert no_warnings(main, [*plain, "-o", other]) == 0
    pd.testing.assert_frame_equal(pd.read_json(out, lines=True), pd.read_json(other, lines=True))


def test_cli_predict_with_context(context_clf, context_model_dir, capsys):
    argv = ["predict", "prices rose", "yes", "-m", str(context_model_dir), "--json"]
    assert no_warnings(main, [*argv, "--precision", "fp32", "--context", "prices fell"]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = context_clf.predict_proba([("prices rose", "yes", "prices fell")])[0]
    np.testing.assert_allclose([result["probabilities"][x] for x in LABELS], expected, atol=1e-5)


def test_cli_eval_with_context_column(context_clf, context_model_dir, replies_jsonl, capsys):
    from stance.evaluation import evaluate

    path, frame = replies_jsonl
    report = path.parent / "report"
    argv = ["eval", str(path), "-m", str(context_model_dir), "--report", str(report), "-q"]
    code = no_warnings(main, [*argv, "--precision", "fp32", "--context-column", "meta.parent_text"])
    assert code == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["data"]["context_column"] == "meta.parent_text"
    assert metrics["data"]["rows_with_context"] == 2
    result = evaluate(context_clf, path, context_column="meta.parent_text", n_resamples=10)
    rows = list(zip(frame["claim"], frame["response"], frame["parent"], strict=True))
    predicted = context_clf.predict(rows)
    assert result.predictions["predicted"].tolist() == predicted
    assert result.predictions["context"].tolist()[:3] == frame["parent"].tolist()[:3]
    assert metrics["accuracy"] == np.mean(np.array(predicted) == frame["label"].to_numpy())
    assert "context: `meta.parent_text`" in (report / "report.md").read_text()
    capsys.readouterr()
    assert main([*argv, "--context-column", "parent_text"]) == 3  # before the model loads
    err = capsys.readouterr().err
    assert "no context column 'parent_text'" in err and "--context-column" in err
    with pytest.warns(ContextWarning, match="trained with context"):
        evaluate(context_clf, path, n_resamples=10)


def test_calibrate_with_context_column(context_clf, replies_jsonl, tmp_path):
    from stance.calibration import calibrate, fit_temperature, logits_of, temperature_nll

    path, frame = replies_jsonl
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 4 rows: the temperature is at its bound
        warnings.simplefilter("error", ContextWarning)
        result = calibrate(
            path,
            context_clf.info["source"],
            output_model=tmp_path / "calibrated",
            classifier=context_clf,
            context_column="meta.parent_text",
        )
    rows = list(zip(frame["claim"], frame["response"], frame["parent"], strict=True))
    contexts = [None if not isinstance(c, str) else c for _, _, c in rows]
    logits = logits_of(
        context_clf, frame["claim"].tolist(), frame["response"].tolist(), False, contexts
    )
    gold = np.array([LABELS.index(label) for label in frame["label"]])
    assert result.temperature == pytest.approx(fit_temperature(logits, gold))
    # the NLL it reports is that of the rows read with their contexts, not as pairs
    assert result.before["nll"] == pytest.approx(temperature_nll(logits, gold, 1.0))
    pairs = logits_of(context_clf, frame["claim"].tolist(), frame["response"].tolist())
    assert result.before["nll"] != pytest.approx(temperature_nll(pairs, gold, 1.0))
    saved = json.loads((tmp_path / "calibrated" / "stance_config.json").read_text())
    assert saved["context_encoding"] == CONTEXT_ENCODING
    assert saved["calibration"]["context_column"] == "meta.parent_text"


# --------------------------------------------------------------------------- training


def thread_config(tmp_path, tiny_base_dir, **extra) -> dict:
    """test_training's tiny config on threaded replies read with their parent post, no
    validation set, and a faster learning rate with warmup."""
    train_file = tmp_path / "threads.jsonl"
    thread_rows(300, seed=1).to_json(train_file, orient="records", lines=True)
    source = {
        "path": str(train_file),
        "label_column": "stance",
        "context_column": "meta.parent_text",
        "licence": "synthetic",
    }
    settings = {"validation": {}, "learning_rate": 2e-3, "warmup_ratio": 0.1, **extra}
    return base_config(tmp_path, tiny_base_dir, sources=[source], **settings)


def test_a_model_trained_with_context_uses_it(tmp_path, tiny_base_dir):
    """The key test of issue 21: the label is only in the context; the tiny model learns
    it with the context and is at chance without."""
    clf = train(TrainConfig.from_dict(thread_config(tmp_path, tiny_base_dir)), progress=False)
    assert clf.context_encoding == CONTEXT_ENCODING
    held_out = thread_rows(90, seed=3)
    gold = held_out["stance"].to_numpy()
    triples = list(zip(held_out["claim"], held_out["response"], contexts_of(held_out), strict=True))
    with_context = np.mean(np.array(clf.predict(triples)) == gold)
    with pytest.warns(ContextWarning, match="trained with context"):
        predicted = clf.predict(held_out[["claim", "response"]])
    without_context = np.mean(np.array(predicted) == gold)
    print(f"accuracy with context {with_context:.3f}, without {without_context:.3f}")
    # chance is 1/3. (A tiny model sometimes stalls for a while with two labels merged,
    # at 2/3: still reading the context, so the bound leaves room for that.)
    assert with_context > 0.6, with_context
    assert without_context < 0.45, without_context
    assert with_context - without_context > 0.25
    info = json.loads((tmp_path / "out" / "stance_config.json").read_text())
    assert info["context_encoding"] == CONTEXT_ENCODING
    assert info["provenance"]["train_rows_with_context"] == 300
    assert info["provenance"]["sources"][0]["context_column"] == "meta.parent_text"
    assert "Trained with conversation context" in (tmp_path / "out" / "README.md").read_text()


def test_training_config_context_column(tmp_path, tiny_base_dir):
    config = thread_config(tmp_path, tiny_base_dir)
    typo = json.loads(json.dumps(config))
    typo["sources"][0]["context_colum"] = typo["sources"][0].pop("context_column")
    with pytest.raises(ConfigError, match="unknown key 'context_colum'.*'context_column'"):
        TrainConfig.from_dict(typo)
    wrong_type = json.loads(json.dumps(config))
    wrong_type["sources"][0]["context_column"] = ["meta"]
    with pytest.raises(ConfigError, match=r"sources\[0\].context_column must be a string"):
        TrainConfig.from_dict(wrong_type)
    only_validation = json.loads(json.dumps(config))
    only_validation["validation"] = {"sources": [dict(only_validation["sources"][0])]}
    del only_validation["sources"][0]["context_column"]
    with pytest.raises(ConfigError, match="no training source has one"):
        TrainConfig.from_dict(only_validation)
    missing_key = json.loads(json.dumps(config))
    missing_key["sources"][0]["context_column"] = "meta.parent"
    with pytest.raises(InputDataError, match="Did you mean 'meta.parent_text'"):
        prepare_data(TrainConfig.from_dict(missing_key))
    # a second source without context and off-topic pairs: their context is None
    plain = tmp_path / "plain.csv"
    thread_rows(30, seed=5).drop(columns="meta").to_csv(plain, index=False)
    config["sources"].append(
        {"path": str(plain), "label_column": "stance", "name": "plain", "licence": "synthetic"}
    )
    config["validation"] = {"fraction": 0.2}
    config["offtopic"] = {"rows": 10, "min_content_words": 1}
    config["debias"] = {"method": "reweight", "folds": 2}
    prepared = prepare_data(TrainConfig.from_dict(config))
    frame = pd.concat([prepared.train, prepared.validation], ignore_index=True)
    assert list(frame.columns) == ["claim", "response", "context", "label", "source"]
    by_source = frame.groupby("source")["context"].apply(lambda c: c.map(type).unique().tolist())
    assert by_source.to_dict() == {
        "threads": [str],
        "plain": [type(None)],
        "offtopic": [type(None)],
    }
    assert len(prepared.validation) and prepared.validation["context"].notna().any()
    config.update(epochs=1, output_dir=str(tmp_path / "mixed"))
    clf = train(TrainConfig.from_dict(config), progress=False)  # debias + off-topic still train
    assert clf.context_encoding == CONTEXT_ENCODING


def test_resume_keeps_training_with_context(tmp_path, tiny_base_dir):
    config = thread_config(tmp_path, tiny_base_dir, max_steps=4, epochs=1, eval_steps=2)
    config["validation"] = {"fraction": 0.2}
    train(TrainConfig.from_dict({**config, "max_steps": 2}), progress=False)
    clf = train(TrainConfig.from_dict(config), resume=True, progress=False)
    state = max((tmp_path / "out" / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    assert json.loads(state.read_text())["global_step"] == 4
    assert clf.context_encoding == CONTEXT_ENCODING
