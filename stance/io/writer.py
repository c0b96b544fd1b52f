"""The crash-safe, resumable table writer."""

from __future__ import annotations

import contextlib
import glob
import gzip
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd

from stance.errors import OutputError, StanceError
from stance.io.csv_reader import preview_names
from stance.io.files import BLOCK, pyarrow_modules
from stance.io.formats import is_gzip, table_format, table_suffix
from stance.io.manifest import (
    check_resumable,
    damaged,
    fsync_dir,
    load_manifest,
    new_manifest,
    remove_strays,
    rows_note,
    write_manifest,
)
from stance.io.schema import CastFailed, conform, unify_schemas
from stance.io.serialise import arrow_table, csv_bytes, csv_header, jsonl_bytes

_PART_SUFFIX = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}
_TRASH_PREFIX = ".finished-"  # + the work folder's name + "-<pid>": being deleted


class ResumableWriter:
    """Crash-safe output of a streaming job: parts are committed atomically, resumable
    after kill -9.

    Appended frames become numbered part files in the work folder ``OUTPUT.partial``
    next to the output, recorded in its ``manifest.json`` (the job's fingerprint, the
    format, the committed parts and columns, and :attr:`rows_done`). A part counts only
    once the manifest lists it, and the manifest is replaced atomically, so a kill at any
    instant leaves each part either fully committed or not at all. :meth:`finalize`
    assembles the parts into ``OUTPUT`` with one atomic rename and removes the work folder.

    Every :meth:`append` costs two fsyncs and rewrites the manifest, so append chunks of
    thousands of rows rather than a few.

    Example::

        writer = ResumableWriter.open("scored.jsonl", {"input": "pairs.jsonl"}, resume=True)
        for frame in iter_batches("pairs.jsonl", 2048, skip_rows=writer.rows_done):
            writer.append(frame)
        writer.finalize()  # -> Path("scored.jsonl")
    """

    def __init__(self, output: Path, work_dir: Path, manifest: dict[str, Any]) -> None:
        self.output = output
        self.work_dir = work_dir
        self.format: str = manifest["format"]
        self._manifest = manifest
        self._state = "open"  # "open" | "failed" | "finalized"

    # ---- opening

    @classmethod
    def open(
        cls, output: str | os.PathLike[str], fingerprint: dict[str, Any], resume: bool
    ) -> ResumableWriter:
        """Start a job writing ``output``, or continue an interrupted one when ``resume``.

        ``fingerprint`` is a JSON-serialisable dict describing the job (input path, size,
        mtime, model, options); resuming a work folder made with another fingerprint is
        refused. Raises :class:`~stance.errors.OutputError` when the output folder is
        missing or not writable, when an interrupted run exists and ``resume`` is false,
        or when its fingerprint differs. With ``resume`` and no interrupted run, it starts
        fresh (``rows_done == 0``).

        >>> w = ResumableWriter.open("out.csv", {"input": "in.csv"}, resume=True)  # doctest: +SKIP
        >>> w.rows_done  # doctest: +SKIP
        0
        """
        output = Path(output)
        fmt = table_format(output)
        if not isinstance(fingerprint, Mapping):
            raise TypeError(f"fingerprint must be a dict, got {type(fingerprint).__name__}")
        fingerprint = json.loads(json.dumps(dict(fingerprint)))  # as it reads back from JSON
        _check_output_location(output)
        work = Path(f"{output}.partial")
        _remove_finished_work(work)
        try:
            if work.is_symlink() or work.exists():
                if not work.is_dir():
                    raise OutputError(
                        f"{work} is in the way: expected the work folder of an interrupted "
                        f"run, found a file; delete it or choose another output path"
                    )
                if not resume:
                    raise OutputError(
                        f"found an interrupted run in {work}{rows_note(work)}; pass --resume "
                        f"to continue it, or delete {work} to start over"
                    )
                manifest = load_manifest(work)
                if manifest is None:  # killed before its first manifest was written
                    manifest = new_manifest(output, fmt, fingerprint)
                    write_manifest(work, manifest)
                else:
                    check_resumable(output, work, manifest, fmt, fingerprint)
                remove_strays(work, manifest)
            else:
                work.mkdir()
                manifest = new_manifest(output, fmt, fingerprint)
                write_manifest(work, manifest)
        except StanceError:
            raise
        except OSError as exc:
            raise OutputError(
                f"cannot prepare the work folder {work}: {exc.strerror or exc}; check free "
                "space and permissions of the output folder"
            ) from exc
        return cls(output, work, manifest)

    @property
    def rows_done(self) -> int:
        """Data rows already committed; pass it as ``skip_rows`` to :func:`iter_batches`."""
        return int(self._manifest["rows_done"])

    @property
    def columns(self) -> list[str] | None:
        """Columns written so far (``None`` before the first :meth:`append`)."""
        columns = self._manifest["columns"]
        return None if columns is None else list(columns)

    # ---- appending

    def append(self, frame: pd.DataFrame) -> None:
        """Commit ``frame`` (its index is ignored) as the next part of the output.

        The part is written under a temporary name, fsynced, renamed into place, and
        then the manifest is replaced atomically; only then does :attr:`rows_done` grow.
        CSV output needs the same columns in the same order in every frame. After a
        failed append the writer refuses further use: re-run with ``--resume``.
        """
        self._require_open()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"append() takes a pandas DataFrame, got {type(frame).__name__}")
        self._state = "failed"  # until this append has fully succeeded
        columns = [str(c) for c in frame.columns]
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise OutputError(
                f"cannot write {self.output}: the column(s) {', '.join(map(repr, duplicates))} "
                "appear more than once; expected unique column names. Rename the duplicates."
            )
        manifest = json.loads(json.dumps(self._manifest))
        known = manifest["columns"]
        if self.format == "csv" and known is not None and known != columns:
            raise OutputError(_column_change_message(self.output, self.rows_done, known, columns))
        if known is None:
            manifest["columns"] = columns
        else:
            manifest["columns"] = known + [c for c in columns if c not in set(known)]
        number = len(manifest["parts"]) + 1
        name = f"part-{number:06d}.{_PART_SUFFIX[self.format]}"
        temp = self.work_dir / f".{name}.tmp"
        try:
            with open(temp, "wb") as f:
                if self.format == "parquet":
                    pyarrow_modules()[1].write_table(arrow_table(frame), f)
                elif self.format == "jsonl":
                    f.write(jsonl_bytes(frame))
                else:
                    f.write(csv_bytes(frame))
                f.flush()
                os.fsync(f.fileno())
                size = f.tell()
            os.replace(temp, self.work_dir / name)
            manifest["parts"].append({"file": name, "rows": len(frame), "bytes": size})
            manifest["rows_done"] += len(frame)
            write_manifest(self.work_dir, manifest)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise OutputError(
                f"cannot write to {self.work_dir}: {exc.strerror or exc}; free disk space or "
                f"fix permissions, then re-run with --resume to continue after row "
                f"{self.rows_done}"
            ) from exc
        self._manifest = manifest
        self._state = "open"

    # ---- finishing

    def finalize(self) -> Path:
        """Assemble the committed parts into the output file and remove the work folder.

        The parts are streamed in order into a temporary file next to the output, which
        is fsynced and renamed onto ``output``; nothing that looks complete appears at
        ``output`` unless everything succeeded. On failure the temporary file is removed
        and the work folder kept, so ``--resume`` can retry. Returns the output path.
        A job without rows still writes a valid empty output.
        """
        self._require_open()
        temp = self.output.with_name(f"{self.output.name}.tmp-{os.getpid()}")
        try:
            if self.format == "parquet":
                self._assemble_parquet(temp)
            else:
                self._assemble_text(temp)
            os.replace(temp, self.output)
            fsync_dir(self.output.parent)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not isinstance(exc, StanceError):
                raise OutputError(
                    f"cannot write {self.output}: {exc.strerror or exc}; the finished rows are "
                    f"kept in {self.work_dir}: fix the problem and re-run with --resume"
                ) from exc
            raise
        self._state = "finalized"
        # Move the work folder out of the way in one atomic step before deleting it: a
        # kill during the deletion must not leave a half-deleted folder that --resume
        # would find damaged. open() removes such leftovers.
        trash = self.work_dir.with_name(f"{_TRASH_PREFIX}{self.work_dir.name}-{os.getpid()}")
        try:
            os.replace(self.work_dir, trash)
            shutil.rmtree(trash)
        except OSError as exc:
            raise OutputError(
                f"{self.output} is complete, but its work folder {self.work_dir} could not be "
                f"removed ({exc.strerror or exc}); delete it by hand"
            ) from exc
        return self.output

    def _require_open(self) -> None:
        if self._state == "finalized":
            raise OutputError(f"{self.output} was already finalized; open a new writer")
        if self._state == "failed":
            raise OutputError(
                f"an earlier write to {self.work_dir} failed; re-run with --resume to "
                "continue from the last committed row"
            )

    def _part_paths(self) -> list[Path]:
        return [self.work_dir / part["file"] for part in self._manifest["parts"]]

    def _assemble_text(self, temp: Path) -> None:
        with open(temp, "wb") as raw:
            out: IO[bytes] = raw
            if is_gzip(self.output):
                out = gzip.GzipFile(filename=self.output.name, mode="wb", fileobj=raw)
            try:
                columns = self._manifest["columns"]
                if self.format == "csv" and columns is not None:
                    out.write(csv_header(columns))
                for part in self._part_paths():
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out, BLOCK)
            finally:
                if out is not raw:
                    out.close()
            raw.flush()
            os.fsync(raw.fileno())

    def _assemble_parquet(self, temp: Path) -> None:
        pa, pq = pyarrow_modules()
        parts = self._part_paths()
        if not parts:
            columns = self._manifest["columns"] or []
            table = pa.table({name: pa.array([], pa.string()) for name in columns})
            with open(temp, "wb") as f:
                pq.write_table(table, f)
                f.flush()
                os.fsync(f.fileno())
            return
        try:
            schemas = [pq.read_schema(part) for part in parts]
            as_text: set[str] = set()
            while True:
                schema = unify_schemas(schemas, as_text)
                try:
                    with open(temp, "wb") as f:
                        with pq.ParquetWriter(f, schema) as writer:
                            for part in parts:
                                writer.write_table(conform(pq.read_table(part), schema))
                        f.flush()
                        os.fsync(f.fileno())
                    return
                except CastFailed as failed:
                    as_text.add(failed.column)  # values do not fit the unified type: use text
        except pa.ArrowException as exc:
            if isinstance(exc, OSError):
                raise
            raise damaged(self.work_dir, f"a part cannot be read back: {exc}") from exc


def _check_output_location(output: Path) -> None:
    parent = output.parent
    if output.is_dir():
        raise OutputError(
            f"the output {output} is a folder; expected a file path such as "
            f"{output / ('scored' + table_suffix(output.name).lower())}"
        )
    if not parent.exists():
        raise OutputError(
            f"cannot write {output}: the folder {parent} does not exist; create it "
            f"(mkdir -p {parent}) or choose another output path"
        )
    if not parent.is_dir():
        raise OutputError(f"cannot write {output}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"cannot write {output}: no permission to create files in {parent}; choose a "
            "folder you can write to, or fix its permissions"
        )


def _remove_finished_work(work: Path) -> None:
    """Delete work folders of finished runs whose deletion was interrupted (a kill)."""
    pattern = f"{glob.escape(_TRASH_PREFIX + work.name)}-*"
    for stale in work.parent.glob(pattern):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


def _column_change_message(output: Path, rows_done: int, old: list[str], new: list[str]) -> str:
    added = [c for c in new if c not in old]
    missing = [c for c in old if c not in new]
    change = []
    if added:
        change.append(f"new: {preview_names(added)}")
    if missing:
        change.append(f"missing: {preview_names(missing)}")
    detail = "; ".join(change) if change else "same names in another order"
    return (
        f"cannot write {output}: CSV output needs the same columns in every row, but they "
        f"changed after row {rows_done} ({detail}). Write JSONL or Parquet output instead "
        "(e.g. -o scored.jsonl), or give every input row the same fields."
    )
