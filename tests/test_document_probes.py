"""eval/document_probes.py: verdicts, the table, and the exit code that flags surprises."""

from __future__ import annotations

import pytest
from conftest import import_script


@pytest.fixture(scope="module")
def probes():
    return import_script("eval/document_probes.py")


def test_each_probe_gets_the_model_label_and_a_verdict(probes, tiny_clf):
    rows = probes.run(tiny_clf)
    assert [row["probe"] for row in rows] == list(probes.PROBES)
    for row in rows:
        p = row["probabilities"]
        assert row["label"] == max(p, key=p.get)
        probe = row["probe"]
        assert row["verdict"] == probes.verdict(probe.expected, row["label"], probe.known_failure)
    table = probes.markdown(rows, "tiny")
    assert all(probe.name in table for probe in probes.PROBES)
    assert "Known failures:" in table and probes.PROBES[1].known_failure in table


def test_exit_code_is_1_only_for_an_unexpected_result(
    probes, tiny_clf, tiny_model_dir, monkeypatch
):
    first = probes.PROBES[0]
    label = probes.run(tiny_clf, (first,))[0]["label"]  # whatever the random model says
    args = ["--model", str(tiny_model_dir)]
    monkeypatch.setattr(probes, "PROBES", (probes.Probe("p", first.claim, first.document, label),))
    assert probes.main(args) == 0
    unlike = next(other for other in tiny_clf.labels if other != label)
    monkeypatch.setattr(probes, "PROBES", (probes.Probe("p", first.claim, first.document, unlike),))
    assert probes.main(args) == 1
    known = probes.Probe("p", first.claim, first.document, unlike, known_failure="a note")
    monkeypatch.setattr(probes, "PROBES", (known,))
    assert probes.main(args) == 0
    fixed = probes.Probe("p", first.claim, first.document, label, known_failure="a note")
    monkeypatch.setattr(probes, "PROBES", (fixed,))
    assert probes.main(args) == 1  # the known failure passes: its note is out of date
