"""Determinism and thread safety: same input, same labels, whatever the batching,
the torch thread count, or how many threads share one classifier."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import stance.model
from stance import StanceClassifier

REPO = Path(__file__).resolve().parent.parent
WORDS = "the offensive has failed no it does not prices rose fell city minister denied".split()
FP32_TOLERANCE = 1e-4  # documented in README.md, "Reliability"
# README.md, "Reliability": a sample of the behavioural suite stays within 0.03 in bf16 (on
# 40,721 table pairs the largest gap was 0.053, the 99th percentile 0.012)
BF16_TOLERANCE = 0.03


def _pairs(n: int = 80, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    return [
        (
            " ".join(rng.choice(WORDS, rng.integers(1, 10))),
            " ".join(rng.choice(WORDS, rng.integers(1, 90))),  # some longer than max_length
        )
        for _ in range(n)
    ]


@pytest.fixture()
def torch_threads():
    """Set torch's intra-op thread count for one test, restoring it afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_same_labels_and_probabilities_whatever_batch_size_and_threads(
    tiny_model_dir, torch_threads
):
    pairs = _pairs()
    reference = None
    for threads in (1, 2):
        torch_threads(threads)
        for batch_size in (1, 7, 32):
            clf = StanceClassifier.load(tiny_model_dir, precision="fp32", batch_size=batch_size)
            with pytest.warns(UserWarning):  # some pairs are truncated
                probabilities = clf.predict_proba(pairs)
            if reference is None:
                reference = probabilities
                continue
            np.testing.assert_allclose(probabilities, reference, atol=FP32_TOLERANCE, rtol=0)
            assert (probabilities.argmax(1) == reference.argmax(1)).all(), (threads, batch_size)


@pytest.mark.filterwarnings("ignore:.*longer than max_length")
def test_repeated_calls_are_bitwise_identical(tiny_clf):
    pairs = _pairs(30, seed=1)
    first = tiny_clf.predict_proba(pairs)
    assert np.array_equal(first, tiny_clf.predict_proba(pairs))


def test_bf16_stays_within_the_documented_tolerance():
    """bf16 forward passes (emulated where the CPU lacks them) against fp32.

    README.md, "Reliability": on a sample of the behavioural suite bf16 moves the default
    model's probabilities by at most 0.03. Checked on the default model (the tiny random
    test model, with its large initialisation, is not what the README measures) over
    every third pair of the behavioural suite, short texts from every capability.
    """
    suite = pd.read_json(REPO / "eval" / "behavioural" / "suite.jsonl", lines=True)
    pairs = list(zip(suite["claim"], suite["response"], strict=True))[::3]
    fp32 = StanceClassifier.load(precision="fp32")
    # the same runtime with the model in bf16, which precision="bf16" refuses on a CPU
    # without native bf16 (where torch emulates it)
    bf16 = dataclasses.replace(
        fp32.runtime, model=copy.deepcopy(fp32.model).to(torch.bfloat16).eval()
    )
    expected = fp32.predict_proba(pairs)
    claims, responses = (list(texts) for texts in zip(*pairs, strict=True))
    got, _ = bf16.probabilities(claims, responses, temperature=fp32.temperature)
    assert fp32.compute_dtype == torch.float32 and bf16.dtype == torch.bfloat16
    assert not np.array_equal(got, expected)  # bf16 really ran
    np.testing.assert_allclose(got, expected, atol=BF16_TOLERANCE, rtol=0)


# ----------------------------------------------------------------------- threads


@pytest.mark.filterwarnings("ignore:.*longer than max_length")
def test_threads_sharing_one_classifier_match_serial_use(tiny_model_dir):
    pairs = _pairs(120, seed=3)
    serial = StanceClassifier.load(tiny_model_dir, precision="fp32", batch_size=8)
    chunks = [pairs[i : i + 15] for i in range(0, len(pairs), 15)]
    expected = [serial.predict_proba(chunk) for chunk in chunks]

    shared = StanceClassifier.load(tiny_model_dir, precision="fp32", batch_size=8)
    start = threading.Barrier(8)

    def work(offset: int) -> dict[int, np.ndarray]:
        start.wait()  # all threads hit the lazy runtime build at once
        got = {}
        for k in range(2 * len(chunks)):  # every thread scores everything, twice
            i = (k + offset) % len(chunks)
            got[i] = shared.predict_proba(chunks[i])
        return got

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(work, range(8)))
    for outcome in outcomes:
        for i, want in enumerate(expected):
            np.testing.assert_allclose(outcome[i], want, atol=1e-6, rtol=0)


def test_lazy_runtime_is_built_once_under_concurrent_first_use(tiny_model_dir, monkeypatch):
    clf = StanceClassifier.load(tiny_model_dir, precision="fp32")
    real_build, builds = stance.model.build_runtime, []

    def slow_build(*args):
        builds.append(threading.get_ident())
        time.sleep(0.05)  # widen the window in which a second thread could start a build
        return real_build(*args)

    monkeypatch.setattr(stance.model, "build_runtime", slow_build)
    start = threading.Barrier(6)

    def first_use(_):
        start.wait()
        return clf.runtime

    with ThreadPoolExecutor(6) as pool:
        runtimes = list(pool.map(first_use, range(6)))
    assert len(builds) == 1
    assert all(runtime is runtimes[0] for runtime in runtimes)


def test_each_classifier_builds_its_runtime_without_waiting_for_another(tiny_clf, monkeypatch):
    """One lock per classifier: a slow first build of one does not hold up another's."""
    real_build = stance.model.build_runtime
    started, released, waits = threading.Event(), threading.Event(), []

    def build(model, tokenizer, settings):
        if settings.max_length == 17:  # the slow one
            started.set()
            waits.append(released.wait(timeout=10))
        return real_build(model, tokenizer, settings)

    monkeypatch.setattr(stance.model, "build_runtime", build)
    slow = tiny_clf.with_settings(max_length=17)
    first = threading.Thread(target=lambda: slow.runtime)
    first.start()
    assert started.wait(timeout=10)
    assert tiny_clf.runtime.pair_tokenizer.max_length == 64  # built while the other waits
    assert first.is_alive()
    released.set()
    first.join()
    assert waits == [True] and slow.runtime.pair_tokenizer.max_length == 17


def test_a_pickled_classifier_predicts_the_same(tiny_clf):
    pairs = _pairs(10, seed=4)
    with pytest.warns(UserWarning):  # some pairs are truncated
        expected = tiny_clf.predict_proba(pairs)
    copied = pickle.loads(pickle.dumps(tiny_clf))
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(copied.predict_proba(pairs), expected)
    assert copied.runtime is not tiny_clf.runtime  # its own, with its own lock


def test_pair_tokenizer_is_thread_safe(tiny_clf):
    """The fast tokenizer's settings are fixed once: concurrent encodes equal serial ones."""
    pair_tokenizer = tiny_clf.runtime.pair_tokenizer
    batches = [_pairs(50, seed=s) for s in range(16)]
    expected = [pair_tokenizer.encode(*zip(*batch, strict=True)) for batch in batches]
    start = threading.Barrier(8)

    def work(index: int):
        start.wait()
        return [pair_tokenizer.encode(*zip(*batches[i], strict=True)) for i in range(16)]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(work, range(8)))
    for outcome in outcomes:
        for got, want in zip(outcome, expected, strict=True):
            assert got.input_ids == want.input_ids
            assert got.token_type_ids == want.token_type_ids
            assert np.array_equal(got.truncated, want.truncated)
    # The tokenizer the user passed in was never reconfigured (truncation, padding).
    assert tiny_clf.tokenizer.backend_tokenizer.truncation is None
