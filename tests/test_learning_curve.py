"""eval/learning_curve.py: how each point of a learning curve cuts the training rows."""

from __future__ import annotations

import pytest
import yaml
from conftest import import_script
from test_training import base_config


@pytest.fixture(scope="module")
def curve():
    return import_script("eval/learning_curve.py")


def test_validation_sources_stay_and_each_training_source_is_capped(curve, tmp_path, tiny_base_dir):
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump(base_config(tmp_path, tiny_base_dir)))
    # base_config trains on one source of 300 rows
    assert curve.share_overrides(config, 0.25) == ["sources.0.max_rows=75"]


def test_a_held_out_fraction_keeps_its_claims_and_trains_on_a_share(curve, tmp_path, tiny_base_dir):
    config = tmp_path / "fraction.yaml"
    settings = base_config(tmp_path, tiny_base_dir, validation={"fraction": 0.2})
    config.write_text(yaml.safe_dump(settings))
    assert curve.share_overrides(config, 0.5) == ["train_fraction=0.5"]
