"""Licence classes of training sources, the model card's summary and the training warning."""

from __future__ import annotations

import pytest
from test_training import base_config

from stance.licences import LicenceWarning, licence_class, rows_per_class, summary
from stance.training import train
from stance.training_config import TrainConfig


@pytest.mark.parametrize(
    "text, expected",
    [
        ("MIT (e-SNLI)", "permissive"),
        ("Apache-2.0", "permissive"),
        ("CC BY 4.0 upstream", "permissive"),
        ("CC BY-SA 4.0", "share-alike"),
        ("CC BY-NC-SA 3.0", "non-commercial"),
        ("CC BY-NC 4.0", "non-commercial"),
        ("none stated (repo Apache-2.0)", "none stated"),
        ("see ConjNLI repo", "none stated"),
        (None, "none stated"),
        ("C-UDA (MultiNLI pairs)", "other terms"),
    ],
)
def test_licence_class(text, expected):
    assert licence_class(text) == expected


def test_rows_per_class_and_summary_name_the_restricted_sources():
    sources = [
        {"name": "snli", "licence": "MIT", "rows": 300},
        {"name": "sick", "licence": "CC BY-NC-SA 3.0", "rows": 100},
        {"name": "fnc", "licence": "none stated", "rows": 100},
    ]
    assert rows_per_class(sources) == {
        "permissive": 300,
        "share-alike": 0,
        "other terms": 0,
        "none stated": 100,
        "non-commercial": 100,
    }
    text = summary(sources)
    assert "permissive 300 (60%)" in text and "non-commercial 100 (20%)" in text
    assert "(sick, fnc)" in text


def test_training_warns_once_about_restricted_data_and_writes_the_summary(tmp_path, tiny_base_dir):
    config = base_config(tmp_path, tiny_base_dir, epochs=1)
    config["sources"][0]["licence"] = "CC BY-NC 4.0"
    with pytest.warns(LicenceWarning, match="1 training sources .*non-commercial") as caught:
        train(TrainConfig.from_dict(config), progress=False)
    assert sum(isinstance(w.message, LicenceWarning) for w in caught) == 1
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Training rows per licence class: non-commercial 300 (100%)" in card


def test_training_on_permissive_data_does_not_warn(tmp_path, tiny_base_dir, recwarn):
    config = base_config(tmp_path, tiny_base_dir, epochs=1)
    config["sources"][0]["licence"] = "MIT"
    train(TrainConfig.from_dict(config), progress=False)
    assert not [w for w in recwarn if isinstance(w.message, LicenceWarning)]
