"""Defaults that the library and the command line share (torch-free, so ``stance --help``
and data-only modules can read them without loading a model).

>>> DEFAULT_BATCH_SIZE
32
"""

from __future__ import annotations

DEFAULT_BATCH_SIZE = 32
"""Pairs per forward pass: ``StanceClassifier.load``, ``--batch-size``, calibration, Ray."""
