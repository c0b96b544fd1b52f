"""Crash safety of `stance score`: SIGKILL at random points and resume; failed writes.

The output after any number of kills and resumes equals an uninterrupted run byte for
byte, and a write that fails (disk full) never leaves a file at the output path.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stance import StanceClassifier, scoring
from stance.cli import main
from stance.errors import OutputError
from stance.io import writer as stance_io

WORDS = "the offensive has failed no it does not prices rose fell city minister denied".split()
KILLS = 6  # kill attempts (each costs a process start, ~4 s here)
CHUNK = 100  # rows per commit in these tests (the CLI's default is 2,048)
# Runs `stance score` with small chunks, so that kills land between many commits, and
# slows each commit a little so that a fast machine cannot finish before the kill lands.
DRIVER = (
    "import sys, time; from stance import scoring, io; "
    f"scoring.score_file.__kwdefaults__['chunk_rows'] = {CHUNK}; "
    "append = io.ResumableWriter.append; "
    "io.ResumableWriter.append = lambda self, frame: (time.sleep(0.05), append(self, frame))[1]; "
    "from stance.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _pairs(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    claims = [" ".join(rng.choice(WORDS, rng.integers(2, 8))) for _ in range(n)]
    responses = [" ".join(rng.choice(WORDS, rng.integers(1, 20))) for _ in range(n)]
    responses[7] = ""  # an error row, kept in place
    return pd.DataFrame({"id": range(n), "claim": claims, "response": responses})


def _command(source: Path, target: Path, model_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        DRIVER,
        "score",
        str(source),
        "-o",
        str(target),
        "-m",
        str(model_dir),
        "--precision",
        "fp32",
        "--quiet",
        *extra,
    ]


def _env() -> dict[str, str]:
    # One thread per process: the same arithmetic in every run, and no fight for 2 cores.
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _rows_done(target: Path) -> int:
    try:
        return json.loads((Path(f"{target}.partial") / "manifest.json").read_text())["rows_done"]
    except (OSError, ValueError, KeyError):
        return -1


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tiny_model_dir, tmp_path):
    source = tmp_path / "in.csv"
    _pairs(40 * CHUNK, seed=1).to_csv(source, index=False)
    reference = tmp_path / "reference.csv"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the subprocesses (OMP_NUM_THREADS=1)
    try:
        clf = StanceClassifier.load(tiny_model_dir, precision="fp32")
        assert clf.source == str(tiny_model_dir)  # as the CLI records it (resume checks it)
        scoring.score_file(source, reference, clf, progress=False, chunk_rows=CHUNK)
    finally:
        torch.set_num_threads(threads)

    target = tmp_path / "out.csv"
    rng = random.Random(8)
    kills, progress = 0, []
    for attempt in range(KILLS):
        extra = ("--resume",) if attempt else ()
        process = subprocess.Popen(
            _command(source, target, tiny_model_dir, *extra),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if attempt % 3 == 2:  # sometimes while still starting up (loading the model)
            time.sleep(rng.uniform(0.0, 1.5))
        else:  # mostly while scoring: a random time after the next commit
            before, deadline = _rows_done(target), time.time() + 60
            while _rows_done(target) <= before and process.poll() is None:
                assert time.time() < deadline, "the scorer made no progress in 60 s"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate()
        progress.append(_rows_done(target))
        if process.returncode == 0:
            break
        if target.exists():  # killed after the final rename (e.g. while exiting)
            assert target.read_bytes() == reference.read_bytes(), "an incomplete output"
    final = subprocess.run(
        _command(source, target, tiny_model_dir, "--resume"),
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert final.returncode == 0, final.stderr
    assert kills >= KILLS - 1, f"only {kills} kills landed (rows committed after each: {progress})"
    assert target.read_bytes() == reference.read_bytes()
    assert not Path(f"{target}.partial").exists()


def _fail_on_call(number: int, exception: BaseException):
    """A stand-in that raises ``exception`` on its ``number``-th call, else calls through."""

    def wrap(real):
        calls = {"n": 0}

        def replacement(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == number:
                raise exception
            return real(*args, **kwargs)

        return replacement

    return wrap


def _disk_full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fail_after_writing(real):
    """An assembly step that writes its whole temporary file, then finds the disk full."""

    def replacement(self, temp):
        real(self, temp)
        assert Path(temp).is_file()
        raise _disk_full()

    return replacement


@pytest.mark.parametrize(
    ("target_name", "owner", "where", "fail"),
    [
        # the 3rd part cannot be written
        ("out.csv", stance_io, "csv_bytes", _fail_on_call(3, _disk_full())),
        # the manifest after the 3rd part cannot be replaced
        ("out.jsonl", stance_io, "write_manifest", _fail_on_call(4, _disk_full())),
        # the final file runs out of space half-way through the copy of the parts
        ("out.csv", stance_io.shutil, "copyfileobj", _fail_on_call(3, _disk_full())),
        # the final file is written, then its fsync fails
        ("out.parquet", stance_io.ResumableWriter, "_assemble_parquet", _fail_after_writing),
    ],
    ids=["part", "manifest", "assembly", "parquet-fsync"],
)
def test_disk_full_leaves_no_complete_looking_file_and_resume_finishes(
    tiny_model_dir, tmp_path, monkeypatch, capsys, target_name, owner, where, fail
):
    source = tmp_path / "in.csv"
    _pairs(5 * CHUNK + 3, seed=2).to_csv(source, index=False)
    monkeypatch.setitem(scoring.score_file.__kwdefaults__, "chunk_rows", CHUNK)
    args = ["score", str(source), "-m", str(tiny_model_dir), "--precision", "fp32", "-q"]
    reference = tmp_path / f"reference{Path(target_name).suffix}"
    assert main([*args, "-o", str(reference)]) == 0

    target = tmp_path / target_name
    with monkeypatch.context() as patch:
        patch.setattr(owner, where, fail(getattr(owner, where)))
        code = main([*args, "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 5, err
    assert "No space left on device" in err and "--resume" in err
    assert "Traceback" not in err
    # Nothing at the output path; only the work folder and the reference are left.
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["in.csv", reference.name, f"{target_name}.partial"]
    )
    assert main([*args, "-o", str(target), "--resume"]) == 0
    if target_name.endswith(".parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(target), pd.read_parquet(reference))
    else:
        assert target.read_bytes() == reference.read_bytes()


def test_failed_write_keeps_the_writer_closed(tmp_path, monkeypatch):
    writer = stance_io.ResumableWriter.open(tmp_path / "o.csv", {"job": 1}, resume=False)
    writer.append(pd.DataFrame({"a": ["1"]}))
    failing = _fail_on_call(1, _disk_full())(stance_io.csv_bytes)
    monkeypatch.setattr(stance_io, "csv_bytes", failing)
    with pytest.raises(OutputError, match="No space left"):
        writer.append(pd.DataFrame({"a": ["2"]}))
    with pytest.raises(OutputError, match="--resume"):
        writer.finalize()  # a half-failed job never becomes a complete-looking file
    assert not (tmp_path / "o.csv").exists()
    assert writer.rows_done == 1


def test_kill_while_the_finished_work_folder_is_deleted_then_resume(
    tiny_model_dir, tmp_path, monkeypatch, capsys
):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    _pairs(3 * CHUNK, seed=4).to_csv(source, index=False)
    monkeypatch.setitem(scoring.score_file.__kwdefaults__, "chunk_rows", CHUNK)
    args = ["score", str(source), "-o", str(target), "-m", str(tiny_model_dir), "-q"]
    real_rmtree = stance_io.shutil.rmtree

    def killed_half_way(path, *rest, **options):
        next(Path(path).glob("part-*")).unlink()  # one part deleted, then the kill
        raise KeyboardInterrupt  # stands in for SIGKILL

    with monkeypatch.context() as patch:
        patch.setattr(stance_io.shutil, "rmtree", killed_half_way)
        assert main(args) == 130
    reference = target.read_bytes()  # the output was complete before the deletion began
    monkeypatch.setattr(stance_io.shutil, "rmtree", real_rmtree)
    assert main([*args, "--resume"]) == 0, capsys.readouterr().err
    assert target.read_bytes() == reference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]
