"""Property-based tests: hostile text through the readers, predict_proba and scoring.

Every row must come out exactly once, in input order, with a label or an ``error``;
nothing crashes on control characters, RTL marks, emoji, lone surrogates, BOMs, mixed
line endings, empty or whitespace text, NaN/None/numbers in text columns, duplicate or
missing ids, or 1 MB fields.
"""

from __future__ import annotations

import csv
import io as pyio
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stance import StanceClassifier, io
from stance.columns import text_problem
from stance.scoring import score_file

PROPERTY = settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SCORING = settings(PROPERTY, max_examples=25)

SPECIAL = [
    "",
    " ",
    "\t\n",
    "\u00a0",  # no-break space
    "\u200b",  # zero-width space (not stripped by str.strip)
    "\ufeff",  # a BOM inside a cell
    "\ufeffthe claim",
    "\x00nul",
    "\x07\x1b[31mred\x1b[0m",
    "\u202eevil\u202c",  # right-to-left override
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",  # Hebrew + Arabic
    "emoji \U0001f600\U0001f1fa\U0001f1e6 \u2764\ufe0f family \U0001f468\u200d\U0001f469",
    "line\nbreak",
    "cr\rinside",
    "crlf\r\ninside",
    'quote " and , comma',
    '""',
    "NA",
    "null",
    "None",
    "NaN",
    "\u2028line separator\u2029",
    "e\u0301 combining",
]
LONE_SURROGATES = ["\ud800", "a\udfffb", "\udc00\ud83d x"]

# Text that a UTF-8 file can hold (no surrogates): anything Unicode, or a hostile special.
file_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(SPECIAL),
    st.text(alphabet='ab ,"\r\n\t', max_size=12),
)
# Text a Python string can hold: surrogates too.
any_text = st.one_of(file_text, st.sampled_from(LONE_SURROGATES), st.text(max_size=30))
scorable_text = any_text.filter(lambda t: text_problem(t) is None)
# A JSON cell of a text column: text, missing, or the wrong type.
json_cell = st.one_of(
    any_text,
    st.none(),
    st.just(float("nan")),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
ids = st.one_of(st.integers(0, 3), st.none())  # duplicates and missing ids on purpose


@pytest.fixture(scope="module")
def clf(tiny_model_dir) -> StanceClassifier:
    return StanceClassifier.load(tiny_model_dir, precision="fp32", batch_size=4)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _csv_record(fields: list[str], ending: str) -> str:
    """One CSV record ending in ``ending``, every cell holding ``\\r`` or ``\\n`` quoted.

    (Python 3.11's csv module quotes only the line terminator's characters.)
    """
    buffer = pyio.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(fields)
    return buffer.getvalue()[:-2] + ending


def _jsonl_rows(path: Path) -> list[dict]:
    """JSON Lines split on ``\\n`` only (U+2028, \\x1c, ... are text inside a line)."""
    text = path.read_bytes().decode("utf-8")
    return [json.loads(line) for line in text.split("\n") if line]


def _read_all(path: Path, batch_size: int) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    frames = list(io.iter_batches(path, batch_size))
    return frames, (pd.concat(frames) if frames else pd.DataFrame())


# --------------------------------------------------------------------------- readers


@PROPERTY
@given(
    rows=st.lists(st.tuples(file_text, file_text), max_size=12),
    endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=4),
    bom=st.booleans(),
    batch_size=st.integers(1, 5),
)
def test_csv_reader_round_trips_hostile_text(rows, endings, bom, batch_size):
    buffer = pyio.StringIO()
    lines = [["id", "claim", "response"]] + [[str(i), c, r] for i, (c, r) in enumerate(rows)]
    for i, line in enumerate(lines):  # mixed line endings between records
        buffer.write(_csv_record(line, endings[i % len(endings)]))
    data = (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.csv"
        path.write_bytes(data)
        assert io.read_columns(path) == ["id", "claim", "response"]
        frames, out = _read_all(path, batch_size)
    assert all(len(frame) <= batch_size for frame in frames)
    assert list(out.index) == list(range(len(rows)))
    got = list(zip(out["claim"], out["response"], strict=True)) if rows else []
    assert got == rows  # every cell comes back as the exact text written


@PROPERTY
@given(
    records=st.lists(
        st.fixed_dictionaries(
            {"claim": json_cell, "response": json_cell}, optional={"id": ids, "extra": json_cell}
        ),
        min_size=1,
        max_size=10,
    ),
    crlf=st.booleans(),
    bom=st.booleans(),
    ascii_only=st.booleans(),
    batch_size=st.integers(1, 4),
)
def test_jsonl_reader_round_trips_hostile_values(records, crlf, bom, ascii_only, batch_size):
    def dump(record):
        try:
            return json.dumps(record, ensure_ascii=ascii_only).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate can only travel as a \\u escape
            return json.dumps(record, ensure_ascii=True).encode("utf-8")

    newline = b"\r\n" if crlf else b"\n"
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(dump(r) + newline for r in records)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.jsonl"
        path.write_bytes(data)
        frames, _ = _read_all(path, batch_size)
    # Per frame: a key no row of a frame has yet is simply not a column of that frame.
    rows = [{c: f[c].iloc[i] for c in f.columns} for f in frames for i in range(len(f))]
    assert [i for f in frames for i in f.index] == list(range(len(records)))
    for position, (record, row) in enumerate(zip(records, rows, strict=True)):
        for key in ("claim", "response", "id", "extra"):
            expected, got = record.get(key), row.get(key)
            assert _same(got, expected), (position, key, got, expected)


@PROPERTY
@given(
    rows=st.lists(st.tuples(st.one_of(file_text, st.none()), file_text), min_size=1, max_size=10),
    batch_size=st.integers(1, 4),
)
def test_parquet_reader_round_trips_hostile_text(rows, batch_size):
    frame = pd.DataFrame(rows, columns=["claim", "response"], dtype=object)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.parquet"
        frame.to_parquet(path, index=False, row_group_size=3)
        _, out = _read_all(path, batch_size)
    assert list(out.index) == list(range(len(rows)))

    def missing_as_none(value):  # pandas turns Arrow nulls in a string column into NaN
        return None if isinstance(value, float) and math.isnan(value) else value

    got = [(missing_as_none(c), r) for c, r in zip(out["claim"], out["response"], strict=True)]
    assert got == rows


# --------------------------------------------------------------------- predict_proba


@PROPERTY
@given(pairs=st.lists(st.tuples(scorable_text, scorable_text), min_size=1, max_size=8))
def test_predict_proba_gives_one_finite_row_per_pair_in_order(clf, pairs):
    probabilities = clf.predict_proba(pairs)
    assert probabilities.shape == (len(pairs), len(clf.labels))
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    assert (probabilities >= 0).all()
    # In input order: each row equals the pair scored on its own (batching aside).
    alone = np.vstack([clf.predict_proba([pair]) for pair in pairs])
    np.testing.assert_allclose(probabilities, alone, atol=1e-5)


def test_one_megabyte_fields_are_scored_and_reported_as_truncated(clf):
    big = "the offensive has failed " * 40_000  # 1 MB
    pairs = [(big, "no"), ("prices rose", big), (big, big)]
    with pytest.warns(UserWarning, match="3 of 3 pairs"):
        probabilities = clf.predict_proba(pairs)
    assert probabilities.shape == (3, 3) and np.isfinite(probabilities).all()


# --------------------------------------------------------------------- stance score


def _check_scored(out_rows: list[dict], source_rows: list[dict], labels) -> None:
    """Every input row exactly once and in order, with a label xor an error."""
    assert len(out_rows) == len(source_rows)
    for position, (got, source) in enumerate(zip(out_rows, source_rows, strict=True)):
        assert _same(got.get("row"), source["row"]), position
        problem = text_problem(source["claim"]) or text_problem(source["response"])
        if problem:
            assert got["label"] in (None, ""), (position, got)
            assert got["error"], (position, got)
        else:
            assert got["label"] in labels, (position, got)
            assert got["error"] in (None, ""), (position, got)
            p = [float(got[f"p_{label}"]) for label in labels]
            assert math.isclose(sum(p), 1.0, abs_tol=1e-6)


@SCORING
@given(
    cells=st.lists(st.tuples(json_cell, json_cell, ids), min_size=1, max_size=20),
    chunk_rows=st.integers(1, 7),
)
def test_score_jsonl_keeps_every_row_once_in_order(clf, cells, chunk_rows):
    source_rows = [
        {"row": i, "id": id_, "claim": c, "response": r} for i, (c, r, id_) in enumerate(cells)
    ]
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.jsonl", Path(folder) / "out.jsonl"
        source.write_text("".join(json.dumps(row, ensure_ascii=True) + "\n" for row in source_rows))
        summary = score_file(source, target, clf, progress=False, chunk_rows=chunk_rows)
        out_rows = _jsonl_rows(target)
        assert not Path(f"{target}.partial").exists()
    assert summary.rows == len(source_rows) == summary.scored + summary.error_rows
    _check_scored(out_rows, source_rows, clf.labels)
    for got, source_row in zip(out_rows, source_rows, strict=True):  # inputs kept as they were
        for key in ("id", "claim", "response"):
            expected = source_row[key]
            if isinstance(expected, float) and math.isnan(expected):
                expected = None  # NaN is not valid JSON: written as null
            assert _same(got[key], expected), key


@SCORING
@given(
    cells=st.lists(st.tuples(file_text, file_text), min_size=1, max_size=20),
    chunk_rows=st.integers(1, 7),
    crlf=st.booleans(),
    bom=st.booleans(),
)
def test_score_csv_keeps_every_row_once_in_order(clf, cells, chunk_rows, crlf, bom):
    source_rows = [{"row": str(i), "claim": c, "response": r} for i, (c, r) in enumerate(cells)]
    buffer = pyio.StringIO()
    for line in [["row", "claim", "response"], *(list(r.values()) for r in source_rows)]:
        buffer.write(_csv_record(line, "\r\n" if crlf else "\n"))
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.csv", Path(folder) / "out.csv"
        source.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode())
        score_file(source, target, clf, progress=False, chunk_rows=chunk_rows)
        with open(target, newline="", encoding="utf-8") as f:
            out_rows = list(csv.DictReader(f))
    _check_scored(out_rows, source_rows, clf.labels)
    assert [(r["claim"], r["response"]) for r in out_rows] == cells  # text written back unchanged


def test_score_cli_with_hostile_rows_exits_0(tiny_model_dir, tmp_path, capsys):
    from stance.cli import main

    rows = [{"claim": text, "response": text or "x"} for text in SPECIAL + LONE_SURROGATES]
    rows += [{"claim": None, "response": "x"}, {"claim": 3, "response": float("nan")}]
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code = main(["score", str(source), "-o", str(target), "-m", str(tiny_model_dir), "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    out = _jsonl_rows(target)
    assert [row["claim"] for row in out] == [row["claim"] for row in rows]
    assert all((row["label"] is None) != (row["error"] == "") for row in out)
