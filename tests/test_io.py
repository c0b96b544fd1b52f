"""Tests of stance.io: streaming readers and the crash-safe resumable writer."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stance.errors import ConfigError, InputDataError, OutputError
from stance.io import (
    ResumableWriter,
    count_rows,
    is_gzip,
    iter_batches,
    read_columns,
    table_format,
)
from stance.io import encoding as sio_encoding
from stance.io import readers as sio_readers
from stance.io import writer as sio_writer

FORMATS = [".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet"]
ROWS = [{"id": i, "claim": f"claim {i}", "response": f'says "{i}", then\nmore'} for i in range(10)]


def write_source(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` in the format named by ``path``, without using stance.io."""
    name = path.name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=4)
        return
    if ".csv" in name:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        data = buffer.getvalue().encode()
    else:
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)


def read_back(path: Path) -> list[dict]:
    """Read a whole output file, without using stance.io."""
    name = path.name
    if name.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    if ".csv" in name:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return frame.to_dict("records")
    data = path.read_bytes()
    text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
    return [json.loads(line) for line in text.splitlines()]


def expected_rows(ext: str) -> list[dict]:
    """CSV cells are text; the other formats keep the integer id."""
    if ".csv" in ext:
        return [{k: str(v) for k, v in row.items()} for row in ROWS]
    return [dict(row) for row in ROWS]


def records(frames) -> list[dict]:
    return [record for frame in frames for record in frame.to_dict("records")]


# ------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "fmt", "gz"),
    [
        ("a.csv", "csv", False),
        ("a.CSV.GZ", "csv", True),
        ("a.jsonl", "jsonl", False),
        ("a.jsonl.gz", "jsonl", True),
        ("dir.v2/a.NDJSON", "jsonl", False),
        ("a.parquet", "parquet", False),
        ("a.pq", "parquet", False),
    ],
)
def test_table_format_and_is_gzip(name, fmt, gz):
    assert table_format(name) == fmt
    assert table_format(Path(name)) == fmt
    assert is_gzip(name) is gz


@pytest.mark.parametrize("name", ["data.xlsx", "data.tsv", "data", "data.json", "data.gz"])
def test_unknown_extension_lists_supported_ones(tmp_path, name):
    with pytest.raises(ConfigError) as info:
        table_format(name)
    message = str(info.value)
    assert name in message
    for extension in (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".parquet", ".pq"):
        assert extension in message
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError):
        iter_batches(path, 3)
    with pytest.raises(ConfigError):
        ResumableWriter.open(tmp_path / f"out-{name}", {}, resume=False)


def test_json_extension_hints_at_jsonl():
    with pytest.raises(ConfigError, match=r"rename it to \.jsonl"):
        table_format("pairs.json")


@pytest.mark.parametrize("ext", FORMATS)
def test_missing_input_file(tmp_path, ext):
    path = tmp_path / f"nope{ext}"
    for call in (
        lambda: iter_batches(path, 3),
        lambda: read_columns(path),
        lambda: count_rows(path),
    ):
        with pytest.raises(InputDataError, match="input file not found: .*nope"):
            call()


def test_bad_batch_size_and_skip_rows(tmp_path):
    path = tmp_path / "in.csv"
    write_source(path, ROWS)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="batch_size"):
            iter_batches(path, bad)
    with pytest.raises(ConfigError, match="skip_rows"):
        iter_batches(path, 3, skip_rows=-1)


# ------------------------------------------------------------------- reading


@pytest.mark.parametrize("ext", FORMATS)
def test_read_columns_and_count_rows(tmp_path, ext):
    path = tmp_path / f"in{ext}"
    write_source(path, ROWS)
    assert read_columns(path) == ["id", "claim", "response"]
    # Every response holds one line break: CSV counts lines, so it over-estimates there.
    assert count_rows(path) == (20 if ".csv" in ext else 10)


def test_count_rows_csv_is_lines_minus_header(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6")  # no final line break
    assert count_rows(path) == 3
    path.write_text("a,b\n")
    assert count_rows(path) == 0
    path.write_text("")
    assert count_rows(path) == 0


def test_count_rows_jsonl_skips_blank_lines_across_blocks(tmp_path, monkeypatch):
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\r\n\t\n{"a": 3}')
    assert count_rows(path) == 3
    monkeypatch.setattr(sio_readers, "BLOCK", 3)  # block borders fall inside lines
    assert count_rows(path) == 3
    assert len(records(iter_batches(path, 2))) == 3


@pytest.mark.parametrize("ext", FORMATS)
def test_batches_have_global_index(tmp_path, ext):
    path = tmp_path / f"in{ext}"
    write_source(path, ROWS)
    frames = list(iter_batches(path, 3))
    assert [list(frame.index) for frame in frames] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert [list(frame.columns) for frame in frames] == [["id", "claim", "response"]] * 4
    assert records(frames) == expected_rows(ext)


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("skip", [1, 4, 5, 9])
def test_skip_rows(tmp_path, ext, skip):
    path = tmp_path / f"in{ext}"
    write_source(path, ROWS)  # Parquet: row groups of 4, so skips cross group borders
    frames = list(iter_batches(path, 3, skip_rows=skip))
    assert all(1 <= len(frame) <= 3 for frame in frames)
    assert [i for frame in frames for i in frame.index] == list(range(skip, 10))
    assert records(frames) == expected_rows(ext)[skip:]


@pytest.mark.parametrize("ext", FORMATS)
def test_skip_past_the_end_yields_nothing(tmp_path, ext):
    path = tmp_path / f"in{ext}"
    write_source(path, ROWS)
    assert list(iter_batches(path, 3, skip_rows=10)) == []
    assert list(iter_batches(path, 3, skip_rows=11)) == []


@pytest.mark.parametrize("ext", FORMATS)
def test_empty_file_yields_nothing(tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    path.write_bytes(gzip.compress(b"") if ext.endswith(".gz") else b"")
    assert list(iter_batches(path, 3)) == []
    assert read_columns(path) == []
    assert count_rows(path) == 0


def test_csv_header_only_yields_nothing(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("claim,response\n")
    assert list(iter_batches(path, 3)) == []
    assert read_columns(path) == ["claim", "response"]


def test_csv_cells_pass_through_as_text_and_bom_is_stripped(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("\ufeffclaim,response,note\nNA,,null\nNone,nan,N/A\n".encode())
    assert read_columns(path) == ["claim", "response", "note"]
    (frame,) = iter_batches(path, 10)
    assert list(frame.columns) == ["claim", "response", "note"]
    assert frame.to_dict("records") == [
        {"claim": "NA", "response": "", "note": "null"},
        {"claim": "None", "response": "nan", "note": "N/A"},
    ]
    assert not frame.isna().any().any()


def test_csv_blank_lines_are_not_rows(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("a,b\n\n1,2\n\n3,4\n")
    assert records(iter_batches(path, 5)) == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert [list(f.index) for f in iter_batches(path, 5, skip_rows=1)] == [[1]]


def test_csv_duplicate_header_is_refused(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("claim,claim\n1,2\n")
    with pytest.raises(InputDataError, match="'claim' more than once"):
        list(iter_batches(path, 3))


def test_csv_extra_field_names_the_physical_line(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text('a,b\n"multi\nline",2\n5,6,7\n')
    with pytest.raises(InputDataError) as info:
        list(iter_batches(path, 3))
    message = str(info.value)
    assert "broken.csv line 4" in message
    assert "expected 2 fields" in message and "got 3" in message


def test_csv_missing_field_is_refused(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(InputDataError, match="line 3: expected 2 fields"):
        list(iter_batches(path, 3))


def test_csv_unterminated_quote(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text('a,b\n1,2\n3,"oops\n5,6\n')
    with pytest.raises(InputDataError, match=r"broken\.csv line 3: a quoted field .* never closed"):
        list(iter_batches(path, 3))


@pytest.mark.parametrize("ext", [".csv", ".csv.gz", ".jsonl"])
def test_latin1_bytes_name_line_offset_and_utf8(tmp_path, ext, monkeypatch):
    monkeypatch.setattr(sio_encoding, "BLOCK", 5)  # block borders split multi-byte characters
    if ".csv" in ext:
        text = "claim,response\nnaïve,fine\n" + "ok,ok\n" * 3000 + "café,x\n"
        line = 2
    else:
        text = '{"claim": "naïve"}\n' + '{"claim": "ok"}\n' * 3000 + '{"claim": "café"}\n'
        line = 1
    data = text.encode("latin-1")
    path = tmp_path / f"latin{ext}"
    path.write_bytes(gzip.compress(data) if ext.endswith(".gz") else data)
    with pytest.raises(InputDataError) as info:
        list(iter_batches(path, 100))
    message = str(info.value)
    assert f"latin{ext} line {line}:" in message
    assert f"byte offset {data.index(b'na') + 2}" in message  # the first bad byte: ï
    assert "UTF-8" in message and "iconv" in message


def test_latin1_line_number_is_computed_from_the_offset(tmp_path):
    data = ("claim,response\n" + "ok,ok\n" * 5000 + "café,x\n").encode("latin-1")
    path = tmp_path / "late.csv"
    path.write_bytes(data)
    with pytest.raises(InputDataError) as info:
        list(iter_batches(path, 100))
    message = str(info.value)
    assert "late.csv line 5002" in message
    assert f"byte offset {data.index(b'caf') + 3}" in message


def test_gzip_name_with_plain_content(tmp_path):
    path = tmp_path / "in.csv.gz"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputDataError, match="gzip"):
        list(iter_batches(path, 3))


def test_truncated_gzip(tmp_path):
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-20])
    with pytest.raises(InputDataError, match="truncated or corrupt"):
        list(iter_batches(path, 3))


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "in.parquet"
    path.write_text("claim,response\n")
    with pytest.raises(InputDataError, match="in.parquet"):
        list(iter_batches(path, 3))
    with pytest.raises(InputDataError):
        read_columns(path)


def test_jsonl_keeps_types_skips_blank_lines_and_appends_new_keys(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"claim": "c", "n": 1, "x": null}\n'
        "\n"
        "   \n"
        '{"claim": "d", "n": 2, "x": [1, {"k": 2.5}], "new": true}\n'
        '{"claim": "e", "n": 3}\n'
    )
    assert read_columns(path) == ["claim", "n", "x"]
    assert count_rows(path) == 3
    first, second = iter_batches(path, 2)
    assert list(first.columns) == ["claim", "n", "x", "new"]
    assert list(second.columns) == ["claim", "n", "x", "new"]
    rows = records([first, second])
    assert rows == [
        {"claim": "c", "n": 1, "x": None, "new": None},
        {"claim": "d", "n": 2, "x": [1, {"k": 2.5}], "new": True},
        {"claim": "e", "n": 3, "x": None, "new": None},
    ]
    assert [type(row["n"]) for row in rows] == [int, int, int]
    assert first["claim"].dtype == object and first["n"].dtype == object
    # Resuming sees the keys of the skipped rows too, so columns do not depend on skip_rows.
    (resumed,) = iter_batches(path, 5, skip_rows=2)
    assert list(resumed.columns) == ["claim", "n", "x", "new"]
    assert list(resumed.index) == [2]


def test_jsonl_bom_is_stripped(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"claim": "c"}\n')
    assert read_columns(path) == ["claim"]
    assert records(iter_batches(path, 2)) == [{"claim": "c"}]


def test_jsonl_invalid_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 3,,}\n{"a": 4}\n')
    with pytest.raises(InputDataError) as info:
        list(iter_batches(path, 10))
    message = str(info.value)
    assert "bad.jsonl" in message and "line 3" in message and "invalid JSON" in message


def test_jsonl_line_that_is_not_an_object(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n["a", 2]\n')
    with pytest.raises(InputDataError, match=r"bad\.jsonl line 2: expected a JSON object.*array"):
        list(iter_batches(path, 10))


def test_jsonl_pretty_printed_object_is_refused_at_line_1(tmp_path):
    path = tmp_path / "pretty.jsonl"
    path.write_text('{\n  "a": 1\n}\n')
    with pytest.raises(InputDataError, match="line 1"):
        list(iter_batches(path, 10))


# ------------------------------------------------------------------- writing


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip(tmp_path, ext):
    source = tmp_path / f"in{ext}"
    write_source(source, ROWS)
    output = tmp_path / f"out{ext}"
    writer = ResumableWriter.open(output, {"input": str(source)}, resume=False)
    assert writer.rows_done == 0
    for frame in iter_batches(source, 3):
        writer.append(frame)
    assert writer.rows_done == 10
    assert not output.exists()  # nothing that looks complete before finalize
    assert writer.finalize() == output
    assert not Path(f"{output}.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, output.name])
    if ext.endswith(".gz"):
        assert output.read_bytes()[:2] == b"\x1f\x8b"
    assert read_back(output) == expected_rows(ext)
    assert records(iter_batches(output, 4)) == expected_rows(ext)


def test_csv_output_has_header_and_keeps_text(tmp_path):
    output = tmp_path / "out.csv"
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(pd.DataFrame({"claim": ["a, b", ""], "p": [0.25, np.nan]}))
    writer.finalize()
    assert output.read_text() == 'claim,p\n"a, b",0.25\n,\n'


def test_jsonl_output_converts_nan_and_numpy_scalars(tmp_path):
    output = tmp_path / "out.jsonl"
    frame = pd.DataFrame(
        {
            "p": [0.5, np.nan],
            "n": np.array([1, 2], dtype=np.int64),
            "f32": np.array([1.5, np.nan], dtype=np.float32),
            "label": pd.Series([None, "support"], dtype=object),
            "ok": [True, False],
            "nested": pd.Series([[1, 2], {"a": None}], dtype=object),
        }
    )
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(frame)
    writer.finalize()
    assert read_back(output) == [
        {"p": 0.5, "n": 1, "f32": 1.5, "label": None, "ok": True, "nested": [1, 2]},
        {"p": None, "n": 2, "f32": None, "label": "support", "ok": False, "nested": {"a": None}},
    ]


def test_jsonl_lone_surrogate_round_trips(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"claim": "a\\ud800b", "response": "ok \\udfff"}\n')
    (frame,) = iter_batches(source, 5)
    assert frame.loc[0, "claim"] == "a\ud800b"
    output = tmp_path / "out.jsonl"
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(frame)
    writer.finalize()
    output.read_bytes().decode("utf-8")  # valid UTF-8
    assert b'"a\\ud800b"' in output.read_bytes()
    (again,) = iter_batches(output, 5)
    assert again.to_dict("records") == [{"claim": "a\ud800b", "response": "ok \udfff"}]


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_lone_surrogate_does_not_crash_other_outputs(tmp_path, ext):
    output = tmp_path / f"out{ext}"
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(pd.DataFrame({"claim": pd.Series(["a\ud800b", "fine"], dtype=object)}))
    writer.finalize()
    assert [row["claim"] for row in read_back(output)] == ["a\\ud800b", "fine"]


def test_parquet_unifies_all_null_and_string_parts(tmp_path):
    output = tmp_path / "out.parquet"
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(pd.DataFrame({"id": [0, 1], "label": pd.Series([None, None], dtype=object)}))
    writer.append(pd.DataFrame({"id": [2, 3], "label": ["support", "denial"]}))
    writer.append(pd.DataFrame({"id": [4], "label": pd.Series([None], dtype=object)}))
    writer.finalize()
    table = pq.read_table(output)
    assert pa.types.is_string(table.schema.field("label").type) or pa.types.is_large_string(
        table.schema.field("label").type
    )
    assert table.to_pylist() == [
        {"id": 0, "label": None},
        {"id": 1, "label": None},
        {"id": 2, "label": "support"},
        {"id": 3, "label": "denial"},
        {"id": 4, "label": None},
    ]


def test_parquet_incompatible_parts_fall_back_to_text(tmp_path):
    output = tmp_path / "out.parquet"
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(pd.DataFrame({"x": [1, 2], "y": [1, 2]}))
    writer.append(pd.DataFrame({"x": ["a", None], "y": [0.5, 1.5]}))
    writer.append(pd.DataFrame({"x": pd.Series([[1, 2]], dtype=object), "z": ["new"]}))
    writer.finalize()
    table = pq.read_table(output)
    assert pa.types.is_floating(table.schema.field("y").type)
    assert table.to_pylist() == [
        {"x": "1", "y": 1.0, "z": None},
        {"x": "2", "y": 2.0, "z": None},
        {"x": "a", "y": 0.5, "z": None},
        {"x": None, "y": 1.5, "z": None},
        {"x": "[1, 2]", "y": None, "z": "new"},
    ]


def test_parquet_mixed_types_within_one_frame(tmp_path):
    output = tmp_path / "out.parquet"
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(pd.DataFrame({"v": pd.Series([1, "two", None], dtype=object)}))
    writer.finalize()
    assert pq.read_table(output).column("v").to_pylist() == ["1", "two", None]


@pytest.mark.parametrize("ext", FORMATS)
def test_empty_job_writes_valid_empty_output(tmp_path, ext):
    output = tmp_path / f"out{ext}"
    ResumableWriter.open(output, {}, resume=False).finalize()
    assert output.exists()
    if ext == ".parquet":
        assert pq.read_table(output).num_rows == 0
    else:  # no columns are known, so not even a CSV header
        data = output.read_bytes()
        assert (gzip.decompress(data) if ext.endswith(".gz") else data) == b""
    assert list(iter_batches(output, 3)) == []


@pytest.mark.parametrize("ext", FORMATS)
def test_empty_frame_records_columns(tmp_path, ext):
    output = tmp_path / f"out{ext}"
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(pd.DataFrame({"claim": pd.Series([], dtype=object), "p": []}))
    writer.finalize()
    assert list(iter_batches(output, 3)) == []
    if ext in (".csv", ".parquet"):
        assert read_columns(output) == ["claim", "p"]


def test_csv_output_refuses_changing_columns(tmp_path):
    writer = ResumableWriter.open(tmp_path / "out.csv", {}, resume=False)
    writer.append(pd.DataFrame({"a": [1], "b": [2]}))
    with pytest.raises(OutputError, match=r"new: c.*JSONL or Parquet"):
        writer.append(pd.DataFrame({"a": [1], "b": [2], "c": [3]}))
    with pytest.raises(OutputError, match="--resume"):  # refuses use after a failed append
        writer.append(pd.DataFrame({"a": [1], "b": [2]}))


def test_duplicate_output_columns_are_refused(tmp_path):
    writer = ResumableWriter.open(tmp_path / "out.jsonl", {}, resume=False)
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(OutputError, match="'a'"):
        writer.append(frame)


def test_missing_output_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        ResumableWriter.open(tmp_path / "no" / "out.csv", {}, resume=False)


def test_output_is_a_folder(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        ResumableWriter.open(tmp_path / "out.csv", {}, resume=False)


# ------------------------------------------------------------------- resuming


def test_resume_after_crash_keeps_every_row_once(tmp_path):
    source = tmp_path / "in.csv"
    write_source(source, ROWS)
    output = tmp_path / "out.csv"
    fingerprint = {"input": str(source), "input_size": source.stat().st_size, "model": "m1"}
    writer = ResumableWriter.open(output, fingerprint, resume=False)
    batches = iter_batches(source, 3)
    writer.append(next(batches))
    writer.append(next(batches))
    del writer, batches  # the process dies: no finalize
    work = tmp_path / "out.csv.partial"
    stray = work / "part-000003.csv"  # renamed into place, killed before the manifest
    stray.write_text("6,half a row")
    temp = work / ".part-000004.csv.tmp"  # killed while writing
    temp.write_text("7,")
    assert not output.exists()

    with pytest.raises(OutputError) as info:
        ResumableWriter.open(output, fingerprint, resume=False)
    assert "--resume" in str(info.value) and str(work) in str(info.value)
    with pytest.raises(OutputError) as info:
        ResumableWriter.open(output, {**fingerprint, "model": "m2"}, resume=True)
    message = str(info.value)
    assert "model" in message and '"m1" -> "m2"' in message and "input_size" not in message
    assert stray.exists()  # a refused open leaves the interrupted run alone

    writer = ResumableWriter.open(output, fingerprint, resume=True)
    assert writer.rows_done == 6
    assert not stray.exists() and not temp.exists()
    for frame in iter_batches(source, 3, skip_rows=writer.rows_done):
        writer.append(frame)
    writer.finalize()
    assert read_back(output) == expected_rows(".csv")
    assert not work.exists()


@pytest.mark.parametrize("ext", [".jsonl.gz", ".parquet"])
def test_kill_between_part_and_manifest(tmp_path, ext, monkeypatch):
    source = tmp_path / f"in{ext}"
    write_source(source, ROWS)
    output = tmp_path / f"out{ext}"
    writer = ResumableWriter.open(output, {"v": 1}, resume=False)
    batches = iter_batches(source, 4)
    writer.append(next(batches))

    def killed(*args):
        raise KeyboardInterrupt  # stands in for kill -9 after the part's rename

    monkeypatch.setattr(sio_writer, "write_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        writer.append(next(batches))
    monkeypatch.undo()
    assert (tmp_path / f"out{ext}.partial" / f"part-000002.{ext.split('.')[1]}").exists()

    writer = ResumableWriter.open(output, {"v": 1}, resume=True)
    assert writer.rows_done == 4
    for frame in iter_batches(source, 4, skip_rows=writer.rows_done):
        writer.append(frame)
    writer.finalize()
    assert read_back(output) == expected_rows(ext)


def test_resume_without_work_dir_starts_fresh(tmp_path):
    writer = ResumableWriter.open(tmp_path / "out.jsonl", {"a": 1}, resume=True)
    assert writer.rows_done == 0
    assert (tmp_path / "out.jsonl.partial" / "manifest.json").is_file()


def test_fingerprint_difference_names_the_key(tmp_path):
    output = tmp_path / "out.parquet"
    ResumableWriter.open(output, {"input": "a.csv", "input_size": 100}, resume=False)
    with pytest.raises(OutputError) as info:
        ResumableWriter.open(output, {"input": "a.csv", "input_size": 200}, resume=True)
    message = str(info.value)
    assert "input_size: 100 -> 200" in message and "input:" not in message
    assert f"delete {output}.partial" in message


def test_failed_finalize_keeps_the_work_dir_and_leaves_no_output(tmp_path):
    output = tmp_path / "out.csv"
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(pd.DataFrame({"a": [1]}))
    writer.append(pd.DataFrame({"a": [2]}))
    work = tmp_path / "out.csv.partial"
    (work / "part-000002.csv").unlink()  # the disk lost a part
    with pytest.raises(OutputError, match="--resume"):
        writer.finalize()
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv.partial"]  # no temp file left
    with pytest.raises(OutputError, match="damaged"):
        ResumableWriter.open(output, {}, resume=True)


def test_finalize_replaces_an_old_output_only_at_the_end(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text('{"old": true}\n')
    writer = ResumableWriter.open(output, {}, resume=False)
    writer.append(pd.DataFrame({"new": [1]}))
    assert read_back(output) == [{"old": True}]
    writer.finalize()
    assert read_back(output) == [{"new": 1}]
    with pytest.raises(OutputError, match="already finalized"):
        writer.append(pd.DataFrame({"new": [2]}))
