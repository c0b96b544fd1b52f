"""stance.columns: the Columns value, the one rule for dotted names and filters, and the
row checks that scoring, evaluation, training data and predict_proba share."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys

import pandas as pd
import pytest

from stance.columns import (
    LABELLED_OPTIONS,
    PAIR_OPTIONS,
    Columns,
    check_added,
    check_columns,
    coerce_rows,
    columns_for_model,
    filter_text,
    row_problems,
)
from stance.data import load_source
from stance.errors import ConfigError, InputDataError
from stance.evaluation import read_labelled
from stance.training_config import SourceConfig

LABELS = ("support", "denial", "neutral")

# --------------------------------------------------------------------------- the value


def test_columns_defaults_and_keyword_options():
    assert Columns.from_options({}) == Columns()
    columns = Columns.from_options(
        {"claim_column": "headline", "label_map": ["agree=support"], "filters": ["split=test"]}
    )
    assert (columns.claim, columns.response, columns.context) == ("headline", "response", None)
    assert columns.label_map == {"agree": "support"}
    assert columns.filters == {"split": ("test",)}


def test_keyword_options_override_a_given_value():
    base = Columns(claim="headline", context="meta.parent_text", prefix="pred_")
    columns = Columns.from_options({"columns": base, "context_column": None})
    assert columns == dataclasses.replace(base, context=None)
    assert Columns.from_options({"columns": base}) is base


def test_filters_and_label_map_are_stored_as_text_whatever_their_form():
    from_dict = Columns(filters={"fold": [2, 1, 1], "gold": True}, label_map={0: "support"})
    from_cli = Columns(filters=["fold=1", "fold=2", "gold=true"], label_map=["0=support"])
    assert from_dict == from_cli
    assert from_dict.filters == {"fold": ("1", "2"), "gold": ("true",)}
    assert from_dict.describe_filters() == {"fold": ["1", "2"], "gold": ["true"]}
    assert json.dumps(from_dict.label_map) == '{"0": "support"}'


def test_columns_is_frozen_and_travels_to_ray_actors():
    columns = Columns(context="meta.parent_text", filters=["split=dev"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        columns.claim = "headline"
    assert pickle.loads(pickle.dumps(columns)) == columns


def test_an_unknown_or_foreign_option_is_a_type_error_that_names_the_right_one():
    with pytest.raises(TypeError, match="'claim_colum'.*Did you mean 'claim_column'"):
        Columns.from_options({"claim_colum": "x"}, LABELLED_OPTIONS)
    with pytest.raises(TypeError, match="unexpected keyword argument 'filters'"):
        Columns.from_options({"filters": ["split=test"]}, PAIR_OPTIONS)
    with pytest.raises(ConfigError, match="--filter expects KEY=VALUE"):
        Columns(filters=["split"])
    with pytest.raises(ConfigError, match="more than one target"):
        Columns(label_map=["agree=support", "agree=denial"])


def test_public_functions_keep_their_keyword_arguments(tiny_clf, tmp_path):
    from stance.evaluation import evaluate
    from stance.scoring import score_file

    path = tmp_path / "t.csv"
    pd.DataFrame(
        {"c": ["prices rose."] * 2, "r": ["prices fell.", "yes"], "y": ["denial", "agree"]}
    ).to_csv(path, index=False)
    by_keywords = evaluate(
        tiny_clf, path, claim_column="c", response_column="r", label_column="y",
        label_map={"agree": "support"}, n_resamples=10,
    )  # fmt: skip
    columns = Columns(claim="c", response="r", label="y", label_map={"agree": "support"})
    by_value = evaluate(tiny_clf, path, columns=columns, n_resamples=10)
    assert by_keywords.metrics["data"] == by_value.metrics["data"]
    summary = score_file(path, tmp_path / "s.csv", tiny_clf, claim_column="c",
                         response_column="r", prefix="pred_", progress=False)  # fmt: skip
    assert summary.scored == 2
    with pytest.raises(TypeError, match="'label_column'"):
        score_file(path, tmp_path / "x.csv", tiny_clf, label_column="y", progress=False)


def test_columns_for_model_drops_the_context_a_model_cannot_read(tiny_clf):
    from stance.model import ContextWarning

    columns = Columns(context="parent")
    with pytest.warns(ContextWarning, match="trained without context"):
        assert columns_for_model(tiny_clf, columns) == Columns()
    assert columns_for_model(object(), columns) is columns  # any other model: as it is


# --------------------------------------------------------------------------- one rule: names


@pytest.mark.parametrize("role", ["claim", "response", "label", "context"])
def test_every_column_may_be_dotted_and_a_missing_one_names_role_option_and_fix(role):
    dotted = Columns(**{role: "meta.text"}, filters={"meta.split": "test"})
    check_columns(["claim", "response", "label", "meta"], dotted, "t.jsonl", labelled=True)
    missing = Columns(**{role: "txet"})
    with pytest.raises(InputDataError) as info:
        check_columns(["claim", "response", "label", "text"], missing, "t.jsonl", labelled=True)
    message = str(info.value)
    assert f"t.jsonl has no {role} column 'txet'" in message
    assert "Did you mean 'text'?" in message and f"--{role}-column" in message
    fix = "Fix the source's {key}."
    with pytest.raises(InputDataError, match=f"Fix the source's {role}_column"):
        check_columns(["claim", "response", "label", "text"], missing, "t", labelled=True, fix=fix)


def test_label_and_filter_columns_are_checked_only_for_labelled_tables():
    columns = Columns(filters={"split": "test"})
    check_columns(["claim", "response"], columns, "pairs.csv")
    with pytest.raises(InputDataError, match="no label column 'label'"):
        check_columns(["claim", "response", "split"], columns, "pairs.csv", labelled=True)
    with pytest.raises(InputDataError, match="no filter column 'split'.*--filter"):
        check_columns(["claim", "response", "label"], columns, "pairs.csv", labelled=True)


def test_an_added_column_that_exists_asks_for_a_prefix():
    with pytest.raises(InputDataError, match=r"already has column\(s\) \['label'\].*--prefix"):
        check_added(["claim", "response", "label"], ["label", "error"], "t.csv")


def test_scoring_reads_dotted_claim_and_response_columns(tiny_clf):
    from stance.scoring import score_frame

    nested = pd.DataFrame(
        {"pair": [{"claim": "prices rose.", "reply": "prices fell."}, {"claim": "the dog sat."}]}
    )
    flat = pd.DataFrame(
        {"claim": ["prices rose.", "the dog sat."], "response": ["prices fell.", None]}
    )
    scored, _ = score_frame(
        nested, tiny_clf, claim_column="pair.claim", response_column="pair.reply"
    )
    expected, _ = score_frame(flat, tiny_clf)
    assert scored["error"].tolist() == ["", "response is missing"]
    pd.testing.assert_frame_equal(
        scored.drop(columns="pair"), expected.drop(columns=["claim", "response"])
    )


# --------------------------------------------------------------------------- one rule: filters


def test_filter_text():
    assert [filter_text(v) for v in (1, 1.5, True, False, None, "dev")] == [
        "1", "1.5", "true", "false", "None", "dev",
    ]  # fmt: skip


@pytest.fixture()
def typed_and_text_files(tmp_path):
    """The same rows as JSONL (``fold`` an int, ``gold`` a bool) and as CSV (all text)."""
    frame = pd.DataFrame(
        {
            "claim": ["prices rose.", "the dog sat.", "the bridge is open.", "the vote won."],
            "response": ["prices fell.", "yes", "it is closed.", "it lost."],
            "label": ["denial", "support", "denial", "denial"],
            "fold": [1, 2, 1, 3],
            "gold": [True, False, True, False],
        }
    )
    jsonl, csv = tmp_path / "rows.jsonl", tmp_path / "rows.csv"
    frame.to_json(jsonl, orient="records", lines=True)
    frame.to_csv(csv, index=False)
    return jsonl, csv


@pytest.mark.parametrize("filters", [{"fold": 1}, {"fold": "1"}, ["fold=1"]])
def test_a_filter_keeps_the_same_rows_in_every_format_for_eval_and_training(
    typed_and_text_files, filters
):
    mapping = filters if isinstance(filters, dict) else {"fold": "1"}
    for path in typed_and_text_files:
        assert read_labelled(path, LABELS, filters=filters).rows.tolist() == [0, 2], path
        frame = load_source(SourceConfig(path=str(path), filter=mapping), LABELS)
        assert frame["claim"].tolist() == ["prices rose.", "the bridge is open."], path


def test_a_boolean_column_matches_true_as_on_the_command_line(typed_and_text_files):
    jsonl, _ = typed_and_text_files
    for filters in ({"gold": True}, ["gold=true"]):
        assert read_labelled(jsonl, LABELS, filters=filters).rows.tolist() == [0, 2]
    frame = load_source(SourceConfig(path=str(jsonl), filter={"gold": "true"}), LABELS)
    assert len(frame) == 2


def test_a_training_filter_that_keeps_nothing_lists_the_values_as_text(typed_and_text_files):
    jsonl, _ = typed_and_text_files
    with pytest.raises(InputDataError, match=r"filter fold=9 keeps no rows.*'1': 2"):
        load_source(SourceConfig(path=str(jsonl), filter={"fold": 9}), LABELS)


def test_a_missing_training_column_names_the_config_key(typed_and_text_files):
    jsonl, _ = typed_and_text_files
    with pytest.raises(InputDataError, match="no label column 'stance'.*label_column"):
        load_source(SourceConfig(path=str(jsonl), label_column="stance"), LABELS)


# --------------------------------------------------------------------------- rows


def test_row_problems_say_every_problem_in_role_order():
    problems = row_problems(
        {
            "claim": ["a", None, "c", "d"],
            "response": ["b", "  ", "d", 7],
            "label": ["support", "", 1, "x"],
            "context": [None, float("nan"), ["a list"], ""],
        }
    )
    assert problems == [
        "",
        "claim is missing; response is empty; label is empty",
        "context is not text (got list ['a list'])",
        "response is not text (got int 7)",
    ]


def test_predict_style_pairs_report_each_bad_pair():
    with pytest.raises(InputDataError) as info:
        coerce_rows([("a", None), ("b", "c", 5), ("", "d")])
    assert str(info.value) == (
        "every claim and response must be a non-empty string, and a context a string or "
        "None; pair 0: response is missing; pair 1: context is not text (got int 5); "
        "pair 2: claim is empty"
    )


def test_training_data_refuses_unusable_rows_with_the_first_problem(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"claim": "a", "response": "b", "label": "support"}] * 3
    rows[2] = {"claim": "a", "response": " ", "label": "support"}
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    with pytest.raises(InputDataError, match=r"1 rows have .*first at row 2: response is empty"):
        load_source(SourceConfig(path=str(path)), LABELS)


# --------------------------------------------------------------------------- imports


def test_data_only_modules_do_not_import_torch():
    modules = [
        "stance.columns",
        "stance.data",
        "stance.evaluation",
        "stance.calibration",
        "stance.training_config",
        "stance.progress",
        "stance.integrations.ray",
    ]
    code = (
        f"import sys; import {', '.join(modules)}; "
        "loaded = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_columns_module_does_not_import_pandas():
    code = "import sys, stance.columns; assert 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
