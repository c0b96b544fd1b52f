"""eval/compare_tables.py: side-by-side tables and the pair-by-pair test between two models."""

from __future__ import annotations

import json

import pytest
from conftest import import_script


@pytest.fixture(scope="module")
def compare():
    return import_script("eval/compare_tables.py")


def _result(accuracy: float, correct: str | None, sha: str = "same") -> dict:
    row = {"n": 20, "metric": "accuracy", "target": 0.9, "fp32": accuracy}
    if correct is not None:
        row |= {"correct": correct, "pairs_sha1": sha}
    return {"results": {"Suite": row}, "precisions": ["fp32"]}


def test_paired_counts_the_pairs_only_one_model_gets_right(compare):
    # 10 pairs only the first gets right, none only the second: p = 2 * 0.5**10
    first = {"correct": "1" * 10 + "1" * 10, "pairs_sha1": "x"}
    last = {"correct": "0" * 10 + "1" * 10, "pairs_sha1": "x"}
    assert compare.paired(first, last) == "10 / 0 (p 0.00)"
    # one discordant pair each way is no evidence at all
    assert (
        compare.paired({"correct": "10", "pairs_sha1": "x"}, {"correct": "01", "pairs_sha1": "x"})
        == "1 / 1 (p 1.00)"
    )


def test_paired_refuses_files_scored_on_other_pairs_or_without_the_record(compare):
    assert (
        compare.paired({"correct": "10", "pairs_sha1": "x"}, {"correct": "10", "pairs_sha1": "y"})
        == "- (other pairs)"
    )
    assert compare.paired({"fp32": 0.5}, {"correct": "10", "pairs_sha1": "y"}) == "-"


def test_main_adds_the_paired_column_only_when_asked(compare, tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_result(0.5, "1" * 10 + "0" * 10)))
    b.write_text(json.dumps(_result(0.45, "1" * 9 + "0" * 11)))
    compare.main([f"old={a}", f"new={b}"])
    plain = capsys.readouterr().out
    assert (
        "right only in" not in plain
        and "| Suite | 20 | accuracy | 0.500 | 0.450 | -0.050 |" in plain
    )
    compare.main([f"old={a}", f"new={b}", "--paired"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("| right only in old / only in new |")
    assert lines[2].endswith("| 1 / 0 (p 1.00) |")
