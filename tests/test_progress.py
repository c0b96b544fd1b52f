"""stance.progress: one progress bar, one truncation notice, transformers kept quiet only
while the library needs it."""

from __future__ import annotations

import pytest
from transformers.utils import logging as hf_logging

from stance.progress import progress_bar, transformers_quieted, truncation_message


def test_transformers_quieted_restores_what_it_found():
    before = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    try:
        hf_logging.set_verbosity_info()
        hf_logging.enable_progress_bar()
        with transformers_quieted():
            assert hf_logging.get_verbosity() == hf_logging.ERROR
            assert not hf_logging.is_progress_bar_enabled()
        assert hf_logging.get_verbosity() == hf_logging.INFO
        assert hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        with pytest.raises(RuntimeError), transformers_quieted():
            raise RuntimeError("a failed load")
        assert not hf_logging.is_progress_bar_enabled()  # off before: stays off
        assert hf_logging.get_verbosity() == hf_logging.INFO
    finally:
        hf_logging.set_verbosity(before[0])
        (hf_logging.enable_progress_bar if before[1] else hf_logging.disable_progress_bar)()


def test_truncation_message_with_and_without_a_total():
    assert truncation_message(1, 16, total=1) == (
        "1 of 1 pairs are longer than max_length=16 tokens; their responses were cut "
        "(claims kept whole)."
    )
    assert truncation_message(2048, 256, fix="Pass --max-length 512.").startswith(
        "2,048 pairs are longer than max_length=256 tokens"
    )
    assert truncation_message(3, 8, fix="Pass --max-length 512.").endswith(
        "(claims kept whole). Pass --max-length 512."
    )


def test_a_disabled_bar_prints_nothing(capsys):
    bar = progress_bar(3, desc="scoring", unit="rows", enabled=False)
    bar.update(3)
    bar.close()
    assert capsys.readouterr().err == ""


def test_cli_predict_warns_about_a_cut_pair_with_the_option_to_fix_it(tiny_model_dir, capsys):
    from stance.cli import main
    from stance.model import TruncationWarning

    argv = ["predict", "a claim", "prices rose in the city " * 20, "-m", str(tiny_model_dir)]
    with pytest.warns(TruncationWarning, match=r"1 of 1 pairs .* --max-length"):
        assert main([*argv, "--precision", "fp32", "--max-length", "16"]) == 0
