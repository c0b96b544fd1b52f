"""The package's front door: `import stance` stays light, every public name resolves."""

from __future__ import annotations

import subprocess
import sys

import pytest

import stance


def test_import_stance_loads_no_heavy_dependency():
    heavy = ["torch", "transformers", "pandas", "numpy"]
    code = f"import sys, stance; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_and_dir_lists_it():
    names = dir(stance)
    for name in stance.__all__:
        assert name in names
        assert getattr(stance, name) is not None
    from stance.documents import DocumentPrediction
    from stance.training_config import TrainConfig

    assert stance.DocumentPrediction is DocumentPrediction and stance.TrainConfig is TrainConfig


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'stance' has no attribute 'Stance'"):
        stance.Stance  # noqa: B018
