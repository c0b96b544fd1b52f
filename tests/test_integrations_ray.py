"""stance.integrations.ray: the Ray Data scorer gives exactly what ``stance score`` gives.

The Ray tests start a local Ray instance with 2 CPUs and skip when Ray is not installed
(``pip install 'claimstance[ray]'``); the unit tests of the scorer run without Ray.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stance.cli import main
from stance.errors import ConfigError, InputDataError
from stance.integrations.ray import RayNotInstalledError, StanceScorer, score_dataset
from stance.model import ContextWarning

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(
    not HAVE_RAY, reason="Ray is not installed: pip install 'claimstance[ray]' to run this test"
)

CLAIMS = ["the offensive has failed.", "prices rose.", "the minister denied the report."]
RESPONSES = ["no it doesn't.", "yes prices rose.", "the police confirmed it.", "is it true?"]
OUTPUT_COLUMNS = ["label", "p_support", "p_denial", "p_neutral", "error"]


def pairs_frame(n: int = 40) -> pd.DataFrame:
    """``n`` pairs with an id column; rows 3, 17 and 30 are bad."""
    frame = pd.DataFrame(
        {
            "id": range(n),
            "claim": [CLAIMS[i % len(CLAIMS)] for i in range(n)],
            "response": [RESPONSES[(i * 7) % len(RESPONSES)] for i in range(n)],
            "source": [f"s{i % 5}" for i in range(n)],
        }
    )
    frame.loc[3, "response"] = ""  # empty
    frame.loc[17, "claim"] = None  # missing
    frame.loc[30, "response"] = "   "  # blank
    return frame


@pytest.fixture(scope="module")
def pairs_parquet(tmp_path_factory):
    path = tmp_path_factory.mktemp("ray-pairs") / "pairs.parquet"
    pq.write_table(pa.Table.from_pandas(pairs_frame(), preserve_index=False), path)
    return path


@pytest.fixture(scope="module")
def cli_parquet(pairs_parquet, tiny_model_dir):
    """The file ``stance score`` writes for the pairs."""
    out = pairs_parquet.parent / "scored-by-cli.parquet"
    argv = ["score", str(pairs_parquet), "-o", str(out), "--model", str(tiny_model_dir)]
    assert main([*argv, "--precision", "fp32", "--batch-size", "8", "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def cli_scored(cli_parquet) -> pd.DataFrame:
    return pd.read_parquet(cli_parquet)


@pytest.fixture(scope="module")
def scorer(tiny_model_dir) -> StanceScorer:
    return StanceScorer(tiny_model_dir, precision="fp32", batch_size=8)


# ------------------------------------------------------------ import and dependency


def test_importing_stance_does_not_import_ray():
    code = (
        "import sys, stance, stance.integrations, stance.integrations.ray; "
        "assert 'ray' not in sys.modules, 'ray was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_score_dataset_without_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes "import ray" fail
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(RayNotInstalledError, match=r"pip install 'claimstance\[ray\]'") as info:
        score_dataset(object())
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, ConfigError)


# ------------------------------------------------------------ the scorer, without Ray


def test_scorer_on_pandas_equals_stance_score(scorer, cli_scored):
    out = scorer(pairs_frame())
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["id", "claim", "response", "source", *OUTPUT_COLUMNS]
    pd.testing.assert_frame_equal(out.reset_index(drop=True), cli_scored)
    assert out.loc[3, "error"] == "response is empty"
    assert out.loc[17, "error"] == "claim is missing"
    assert out["label"].isna().sum() == 3
    assert set(out["label"].dropna()) <= {"support", "denial", "neutral"}


def test_scorer_on_arrow_returns_arrow_equal_to_stance_score(scorer, pairs_parquet, cli_scored):
    table = pq.read_table(pairs_parquet)
    out = scorer(table)
    assert isinstance(out, pa.Table)
    assert out.column_names == ["id", "claim", "response", "source", *OUTPUT_COLUMNS]
    assert out.column("label").null_count == 3
    pd.testing.assert_frame_equal(out.to_pandas(), cli_scored)


def test_scorer_keeps_a_slice_index_and_scores_an_empty_batch(scorer, cli_scored):
    part = pairs_frame().iloc[10:20]
    out = scorer(part)
    assert list(out.index) == list(range(10, 20))
    pd.testing.assert_frame_equal(out, cli_scored.iloc[10:20])
    empty = scorer(pairs_frame().iloc[:0])
    assert len(empty) == 0 and list(empty.columns)[-5:] == OUTPUT_COLUMNS


def test_scorer_reads_pandas_na_as_missing_and_keeps_the_input_column(scorer, cli_scored):
    # Ray's pandas batches can hold text as Arrow strings with pd.NA for a missing value.
    frame = pairs_frame()
    frame["claim"] = pd.array(frame["claim"], dtype=pd.ArrowDtype(pa.string()))
    assert frame.loc[17, "claim"] is pd.NA
    out = scorer(frame)
    assert out.loc[17, "error"] == "claim is missing"
    assert out["claim"].dtype == frame["claim"].dtype and out.loc[17, "claim"] is pd.NA
    pd.testing.assert_frame_equal(out.drop(columns="claim"), cli_scored.drop(columns="claim"))


def test_scorer_missing_column_is_the_stance_score_error(tiny_model_dir, scorer):
    frame = pairs_frame().rename(columns={"response": "reply"})
    with pytest.raises(InputDataError, match=r"no response column 'response'.*--response-column"):
        scorer(frame)
    custom = StanceScorer(tiny_model_dir, response_column="reply", precision="fp32")
    assert custom(frame)["error"].iloc[3] == "response is empty"


def test_scorer_refuses_to_overwrite_a_column(tiny_model_dir, scorer):
    frame = pairs_frame().assign(p_denial=0.5)
    with pytest.raises(InputDataError, match=r"already has column\(s\) \['p_denial'\]"):
        scorer(frame)
    prefixed = StanceScorer(tiny_model_dir, prefix="pred_", precision="fp32")(frame)
    assert list(prefixed.columns)[-5:] == [f"pred_{c}" for c in OUTPUT_COLUMNS]


def test_scorer_leaves_transformers_logging_as_it_was(tiny_model_dir):
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    try:
        StanceScorer(tiny_model_dir, precision="fp32")
        assert hf_logging.get_verbosity() == hf_logging.WARNING
    finally:
        hf_logging.set_verbosity(before)


def test_scorer_refuses_other_batch_types(scorer):
    with pytest.raises(ConfigError, match="batch_format='pandas' or 'pyarrow'"):
        scorer({"claim": ["a"], "response": ["b"]})


def test_scorer_reads_the_context_column_like_stance_score(context_model_dir, replies_jsonl):
    path, frame = replies_jsonl
    out = path.parent / "scored-by-cli.jsonl"
    argv = ["score", str(path), "-o", str(out), "-m", str(context_model_dir), "-q"]
    argv += ["--precision", "fp32", "--prefix", "pred_", "--context-column", "meta.parent_text"]
    assert main(argv) == 0
    scorer = StanceScorer(
        context_model_dir, context_column="meta.parent_text", prefix="pred_", precision="fp32"
    )
    scored = scorer(pd.read_json(path, lines=True))
    pd.testing.assert_frame_equal(scored, pd.read_json(out, lines=True))
    with pytest.warns(ContextWarning, match="trained with context"):
        without = StanceScorer(context_model_dir, prefix="pred_", precision="fp32")
    assert not np.allclose(scored["pred_p_denial"], without(frame)["pred_p_denial"])
    misnamed = StanceScorer(context_model_dir, context_column="thread", prefix="pred_")
    with pytest.raises(InputDataError, match=r"no context column 'thread'.*--context-column"):
        misnamed(frame)


def test_scorer_with_a_context_column_and_a_model_without_context_warns(
    tiny_model_dir, replies_jsonl
):
    _, frame = replies_jsonl
    with pytest.warns(ContextWarning, match="trained without context"):
        ignoring = StanceScorer(
            tiny_model_dir, context_column="parent", prefix="pred_", precision="fp32"
        )
    plain = StanceScorer(tiny_model_dir, prefix="pred_", precision="fp32")
    pd.testing.assert_frame_equal(ignoring(frame), plain(frame))


# ------------------------------------------------------------ on a local Ray instance


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'claimstance[ray]'")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        # a busy 2-CPU machine can take over a minute to start a worker process
        _system_config={"worker_register_timeout_seconds": 300},
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@needs_ray
@pytest.mark.parametrize("batch_format", ["pandas", "pyarrow"])
def test_ray_output_equals_stance_score_row_for_row(
    ray_local, pairs_parquet, tiny_model_dir, cli_parquet, cli_scored, tmp_path, batch_format
):
    ds = ray_local.data.read_parquet(str(pairs_parquet)).repartition(4)
    scored = score_dataset(
        ds,
        tiny_model_dir,
        concurrency=2,
        num_cpus=0.5,  # two actors on one CPU, leaving the other for the read and write tasks
        rows_per_call=8,
        batch_format=batch_format,
        batch_size=8,
        precision="fp32",
    )
    scored.write_parquet(str(tmp_path / "scored"))
    # Ray writes its own pandas metadata (read back as pyarrow dtypes): compare the Arrow
    # columns and types without it.
    table = pq.read_table(tmp_path / "scored").replace_schema_metadata(None)
    cli_table = pq.read_table(cli_parquet).replace_schema_metadata(None)
    assert table.schema.equals(cli_table.schema)
    out = table.to_pandas()
    # Ray Data does not keep row order by default: put the rows back in id order.
    out = out.sort_values("id").reset_index(drop=True)
    assert len(out) == len(cli_scored) == 40
    # Same text, labels and errors; the probabilities agree to float noise only: Ray
    # batches the rows differently (other padding) and its actors run torch on one thread.
    exact = ["id", "claim", "response", "source", "label", "error"]
    pd.testing.assert_frame_equal(out[exact], cli_scored[exact], check_exact=True)
    pd.testing.assert_frame_equal(out, cli_scored, check_exact=False, rtol=1e-4, atol=1e-6)
    assert out["error"].tolist()[:4] == ["", "", "", "response is empty"]


@needs_ray
def test_score_dataset_checks_columns_before_starting_actors(ray_local, pairs_parquet):
    ds = ray_local.data.read_parquet(str(pairs_parquet))
    with pytest.raises(InputDataError, match="no claim column 'text'"):
        score_dataset(ds, claim_column="text")
    with pytest.raises(ConfigError, match="concurrency must be a positive integer"):
        score_dataset(ds, concurrency=0)
