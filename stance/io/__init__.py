"""Streaming table readers and a crash-safe, resumable table writer.

The format of a file is chosen by its extension (:func:`table_format`):

=========  ===========================================================
format     extensions (case-insensitive)
=========  ===========================================================
csv        ``.csv``, ``.csv.gz``
jsonl      ``.jsonl``, ``.jsonl.gz``, ``.ndjson``, ``.ndjson.gz``
parquet    ``.parquet``, ``.pq``
=========  ===========================================================

Readers never load a whole file: :func:`iter_batches` yields DataFrames of at most
``batch_size`` rows whose index holds the global 0-based row positions.
:class:`ResumableWriter` commits every appended frame atomically under ``OUTPUT.partial/``,
so a job killed at any instant (even ``kill -9``) resumes without losing or duplicating a
row, and :meth:`ResumableWriter.finalize` moves the complete file into place with one
atomic rename. :func:`arrow_table` converts a frame as the writer does for Parquet (the
Ray integration returns Arrow batches with it).

Typical use (this is what ``stance score INPUT -o OUTPUT --resume`` does)::

    writer = ResumableWriter.open("scored.csv", fingerprint, resume=True)
    for frame in iter_batches("pairs.csv", 2048, skip_rows=writer.rows_done):
        writer.append(score(frame))
    writer.finalize()

User mistakes raise :mod:`stance.errors` classes whose message names the file (and the
1-based line where relevant), says what was expected, what came, and how to fix it.

The code is split by concern (what a module shares with its siblings is public in it;
the package exports the API in ``__all__``): :mod:`~stance.io.formats` (format detection),
:mod:`~stance.io.readers` (the reading API) with one module per format
(:mod:`~stance.io.csv_reader`, :mod:`~stance.io.jsonl_reader`,
:mod:`~stance.io.parquet_reader`; the row readers batch with :mod:`~stance.io.batching`),
:mod:`~stance.io.files` (opening files, read errors),
:mod:`~stance.io.encoding` (UTF-8 error location), :mod:`~stance.io.writer` (the resumable
writer) with its :mod:`~stance.io.manifest`, :mod:`~stance.io.serialise` (value
serialisers) and :mod:`~stance.io.schema` (Arrow schema unification).
"""

from __future__ import annotations

from stance.io.formats import SUPPORTED_EXTENSIONS, is_gzip, table_format
from stance.io.readers import count_rows, iter_batches, read_columns
from stance.io.serialise import arrow_table
from stance.io.writer import ResumableWriter

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "ResumableWriter",
    "arrow_table",
    "count_rows",
    "is_gzip",
    "iter_batches",
    "read_columns",
    "table_format",
]
