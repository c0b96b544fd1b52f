"""Evaluate models and baselines on a list of datasets and write one leaderboard.

    python eval/run_suite.py configs/eval_suite.yaml [--out eval/results] [--reports] [-q]

The config (see ``configs/eval_suite.yaml``) lists ``datasets`` (a file under
``data_dir``, a ``filter``, a ``metric``: accuracy, macro_f1, fnc_score or
rumoureval_macro_f1, and optional ``label_map`` / ``label_column`` /
``claim_column`` / ``response_column``), ``models`` (``default`` or
``{name, path}``) and optionally ``baselines: {training_config: ...}``: the training
mix of that config (``stance.training.prepare_data``) trains a majority-class baseline
and TF-IDF (word 1-2 grams, at most 200k features) + logistic regression on
``claim [SEP] response``. Relative paths are relative to the current folder (run from
the repository root), dataset paths relative to ``data_dir``.

Writes ``OUT/leaderboard.md`` and ``OUT/leaderboard.json`` (every dataset x every model
and baseline, each cell the dataset's metric, plus the behavioural suite pass rate per
capability and overall), and ``OUT/behavioural.md`` (the failed suite pairs).
``--reports`` also writes a full ``stance eval`` report folder per cell under
``OUT/reports/``. A cell that fails (a missing file, unmapped labels) is shown as
an error and the run exits 3 after writing everything else.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import behavioural
import invariance
import numpy as np

METRICS = ("accuracy", "macro_f1", "fnc_score", "rumoureval_macro_f1")
CI_KEYS = {"accuracy": "accuracy_ci", "macro_f1": "macro_f1_ci"}
DATASET_KEYS = (
    "name",
    "path",
    "filter",
    "metric",
    "label_map",
    "label_column",
    "claim_column",
    "response_column",
)
TOP_KEYS = ("data_dir", "datasets", "models", "baselines", "behavioural", "batch_size", "precision")
EXIT_CELLS_FAILED = 3


# --------------------------------------------------------------------------- config


@dataclass
class DatasetSpec:
    name: str
    path: Path
    metric: str
    filter: dict[str, Any] = field(default_factory=dict)
    label_map: dict[str, str] = field(default_factory=dict)
    label_column: str = "label"
    claim_column: str = "claim"
    response_column: str = "response"

    def describe_filter(self) -> str:
        return ", ".join(
            f"{k}={'|'.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in self.filter.items()
        )


@dataclass
class ModelSpec:
    name: str
    path: str | None  # None: the shipped default model


@dataclass
class SuiteConfig:
    datasets: list[DatasetSpec]
    models: list[ModelSpec]
    data_dir: Path | None = None
    baselines_config: Path | None = None
    behavioural: Path | None = behavioural.SUITE
    batch_size: int = 64
    precision: str = "auto"


def _unknown(keys: Sequence[str], allowed: Sequence[str], where: str) -> None:
    from stance.errors import ConfigError, did_you_mean

    for key in keys:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} in {where}; expected one of {list(allowed)}."
                f"{did_you_mean(str(key), allowed)}"
            )


def load_config(path: str | Path) -> SuiteConfig:
    """Read and check a suite config (every key and metric checked)."""
    from stance.errors import ConfigError
    from stance.training_config import read_yaml_mapping

    path = Path(path)
    raw = read_yaml_mapping(path)
    _unknown(list(raw), TOP_KEYS, str(path))
    data_dir = Path(raw["data_dir"]).expanduser() if raw.get("data_dir") else None
    datasets = []
    for i, entry in enumerate(raw.get("datasets") or []):
        where = f"{path} datasets[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping, got {entry!r}")
        _unknown(list(entry), DATASET_KEYS, where)
        for key in ("name", "path", "metric"):
            if not entry.get(key):
                raise ConfigError(f"{where} needs a {key!r}")
        if entry["metric"] not in METRICS:
            raise ConfigError(
                f"{where}: metric must be one of {list(METRICS)}, got {entry['metric']!r}"
            )
        file = Path(entry["path"]).expanduser()
        if not file.is_absolute() and data_dir is not None:
            file = data_dir / file
        datasets.append(
            DatasetSpec(
                name=str(entry["name"]),
                path=file,
                metric=entry["metric"],
                filter=dict(entry.get("filter") or {}),
                label_map={str(k): str(v) for k, v in (entry.get("label_map") or {}).items()},
                label_column=entry.get("label_column", "label"),
                claim_column=entry.get("claim_column", "claim"),
                response_column=entry.get("response_column", "response"),
            )
        )
    if not datasets:
        raise ConfigError(f"{path} lists no datasets")
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: dataset names must be distinct, got {names}")
    models = []
    for i, entry in enumerate(raw.get("models") or []):
        if entry == "default":
            models.append(ModelSpec("default", None))
            continue
        where = f"{path} models[{i}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ConfigError(
                f"{where} must be 'default' or {{name: ..., path: ...}}, got {entry!r}"
            )
        _unknown(list(entry), ("name", "path"), where)
        model_path = entry.get("path")
        models.append(
            ModelSpec(str(entry["name"]), None if model_path in (None, "default") else model_path)
        )
    baselines = raw.get("baselines") or {}
    if not isinstance(baselines, dict):
        raise ConfigError(f"{path} baselines must be a mapping like {{training_config: ...}}")
    _unknown(list(baselines), ("training_config",), f"{path} baselines")
    if not models and not baselines:
        raise ConfigError(f"{path} lists no models and no baselines")
    suite = raw.get("behavioural", str(behavioural.SUITE))
    columns = [m.name for m in models] + (["majority", "tfidf_logreg"] if baselines else [])
    if len(set(columns)) != len(columns):
        raise ConfigError(
            f"{path}: model names must be distinct from each other and the "
            f"baselines (majority, tfidf_logreg), got {columns}"
        )
    return SuiteConfig(
        datasets=datasets,
        models=models,
        data_dir=data_dir,
        baselines_config=Path(baselines["training_config"]) if baselines else None,
        behavioural=Path(suite) if suite else None,
        batch_size=int(raw.get("batch_size", 64)),
        precision=str(raw.get("precision", "auto")),
    )


# --------------------------------------------------------------------------- baselines


class PairBaseline:
    """A scikit-learn classifier on ``claim [SEP] response`` text, with ``predict_proba``.

    Columns come back in ``labels`` order (0 for a label the training data lacked).
    """

    def __init__(self, name: str, estimator: Any, labels: Sequence[str]) -> None:
        self.name = name
        self.estimator = estimator
        self.labels = tuple(labels)
        self.info = {"source": f"baseline:{name}"}

    @staticmethod
    def texts(claims: Sequence[str], responses: Sequence[str]) -> list[str]:
        return [f"{c} [SEP] {r}" for c, r in zip(claims, responses, strict=True)]

    def fit(self, claims: Sequence[str], responses: Sequence[str], gold: Sequence[str]):
        self.estimator.fit(self.texts(claims, responses), list(gold))
        return self

    def predict_proba(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        claims = [p[0] for p in pairs]
        responses = [p[1] for p in pairs]
        raw = self.estimator.predict_proba(self.texts(claims, responses))
        out = np.zeros((len(pairs), len(self.labels)))
        for j, cls in enumerate(self.estimator.classes_):
            out[:, self.labels.index(cls)] = raw[:, j]
        return out


class ClaimOnlyBaseline(PairBaseline):
    """The same classifier reading the claim alone: how far the claim gives the label away
    (the hypothesis-only baseline of NLI, Poliak et al. 2018)."""

    @staticmethod
    def texts(claims: Sequence[str], responses: Sequence[str]) -> list[str]:
        return list(claims)


def train_baselines(
    training_config: str | Path, suite: Any = None, seed: int | None = None
) -> tuple[list[PairBaseline], dict[str, Any]]:
    """Train the majority and TF-IDF + logistic-regression baselines on a training mix.

    Refuses a mix that holds behavioural-suite pairs. Returns the baselines and a
    description (config, rows, labels, label counts).
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from stance.training import prepare_data
    from stance.training_config import TrainConfig

    config = TrainConfig.from_yaml(training_config)
    prepared = prepare_data(config)
    train = prepared.train
    if suite is not None:
        behavioural.check_no_leak(train, suite, f"the training mix of {training_config}")
    seed = config.seed if seed is None else seed
    claims, responses, gold = (
        train["claim"].tolist(),
        train["response"].tolist(),
        train["label"].tolist(),
    )
    # "prior": predicts the most frequent training label, probabilities = label shares
    majority = PairBaseline("majority", DummyClassifier(strategy="prior"), prepared.labels)
    majority.fit(claims, responses, gold)

    def tfidf_logreg() -> Any:
        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), max_features=200_000, sublinear_tf=True),
            LogisticRegression(max_iter=1000, random_state=seed),
        )

    tfidf = PairBaseline("tfidf_logreg", tfidf_logreg(), prepared.labels)
    tfidf.fit(claims, responses, gold)
    claim_only = ClaimOnlyBaseline("claim_only", tfidf_logreg(), prepared.labels)
    claim_only.fit(claims, responses, gold)
    counts = train["label"].value_counts()
    description = {
        "training_config": str(training_config),
        "train_rows": len(train),
        "labels": list(prepared.labels),
        "label_counts": {label: int(counts.get(label, 0)) for label in prepared.labels},
        "sources": sorted(set(train["source"])),
    }
    return [majority, tfidf, claim_only], description


# --------------------------------------------------------------------------- running


def _evaluate_cell(model: Any, dataset: DatasetSpec, report_dir: Path | None) -> dict[str, Any]:
    from stance.errors import StanceError
    from stance.evaluation import evaluate, write_report

    try:
        result = evaluate(
            model,
            dataset.path,
            claim_column=dataset.claim_column,
            response_column=dataset.response_column,
            label_column=dataset.label_column,
            label_map=dataset.label_map,
            filters=dataset.filter,
        )
    except StanceError as exc:
        return {"value": None, "error": str(exc)}
    metrics = result.metrics
    if dataset.metric not in metrics:
        return {
            "value": None,
            "error": f"metric {dataset.metric} does not apply to a model with labels "
            f"{list(result.labels)}",
        }
    if report_dir is not None:
        write_report(result, report_dir)
    ci = metrics.get(CI_KEYS.get(dataset.metric, ""), None)
    return {
        "value": float(metrics[dataset.metric]),
        "ci": ci,
        "n": metrics["n"],
        "excluded": metrics["excluded"]["count"],
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
    }


def run(
    config: SuiteConfig,
    out_dir: Path,
    command: str,
    config_path: str,
    reports: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate every model and baseline; return the leaderboard (also written to ``out_dir``)."""
    from stance.errors import StanceError
    from stance.model import StanceClassifier

    def say(message: str) -> None:
        if progress:
            print(message, file=sys.stderr, flush=True)

    suite = behavioural.load_suite(config.behavioural) if config.behavioural else None
    invariance_suite = invariance.load_invariance_suite() if suite is not None else None
    invariant: dict[str, Any] = {}
    columns: list[tuple[str, str, Any]] = []  # (name, kind, predictor or loader)
    for spec in config.models:
        columns.append((spec.name, "model", spec))
    baselines_info = None
    if config.baselines_config is not None:
        say(f"training baselines on the mix of {config.baselines_config} ...")
        started = time.perf_counter()
        baselines, baselines_info = train_baselines(config.baselines_config, suite)
        baselines_info["seconds"] = round(time.perf_counter() - started, 1)
        columns += [(b.name, "baseline", b) for b in baselines]
    cells: dict[str, dict[str, Any]] = {d.name: {} for d in config.datasets}
    behaviour: dict[str, Any] = {}
    column_info = []
    for name, kind, item in columns:
        if kind == "model":
            say(f"loading model {name} ...")
            try:
                predictor = StanceClassifier.load(
                    item.path, precision=config.precision, batch_size=config.batch_size
                )
            except StanceError as exc:
                for dataset in config.datasets:
                    cells[dataset.name][name] = {"value": None, "error": str(exc)}
                behaviour[name] = {"error": str(exc)}
                column_info.append({"name": name, "kind": kind, "path": item.path})
                continue
            column_info.append(
                {
                    "name": name,
                    "kind": kind,
                    "path": item.path or "default",
                    "labels": list(predictor.labels),
                    "temperature": predictor.temperature,
                }
            )
        else:
            predictor = item
            column_info.append({"name": name, "kind": kind, "labels": list(predictor.labels)})
        for dataset in config.datasets:
            say(f"  {name} on {dataset.name} ...")
            report_dir = out_dir / "reports" / name / dataset.name if reports else None
            cells[dataset.name][name] = _evaluate_cell(predictor, dataset, report_dir)
            if cells[dataset.name][name].get("error"):
                say(f"  {name} on {dataset.name}: error: {cells[dataset.name][name]['error']}")
        if suite is not None:
            if behavioural.applies_to(predictor.labels):
                behaviour[name] = behavioural.score_suite(predictor, suite)
                invariant[name] = behavioural.score_suite(predictor, invariance_suite)
                invariant[name]["flip_rate"] = invariance.flip_rate(
                    {f["id"] for f in invariant[name]["failures"]}, invariance_suite
                )
            else:
                behaviour[name] = invariant[name] = None
    board = {
        "command": command,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config_path,
        "data_dir": str(config.data_dir) if config.data_dir else None,
        "columns": column_info,
        "datasets": [
            {
                "name": d.name,
                "path": str(d.path),
                "filter": d.filter,
                "metric": d.metric,
                "label_map": d.label_map,
                "label_column": d.label_column,
            }
            for d in config.datasets
        ],
        "cells": cells,
        "baselines": baselines_info,
        "behavioural": {
            "suite": str(config.behavioural) if config.behavioural else None,
            "results": behaviour,
        },
        "invariance": invariant,
    }
    return board


def leaderboard_markdown(board: dict[str, Any]) -> str:
    """The leaderboard as Markdown: datasets x columns, then the behavioural pass rates."""
    from stance import __version__

    names = [c["name"] for c in board["columns"]]
    lines = [
        "# Leaderboard",
        "",
        f"Made by `{board['command']}` on {board['date']} (claimstance {__version__}).",
    ]
    if board.get("data_dir"):
        lines.append(f"Dataset paths are under `{board['data_dir']}`.")
    models = [c for c in board["columns"] if c["kind"] == "model"]
    if models:
        lines.append(
            "Models: "
            + "; ".join(
                f"{c['name']} = `{c.get('path') or 'default'}`"
                + (f" (temperature {c['temperature']:g})" if "temperature" in c else "")
                for c in models
            )
            + "."
        )
    base = board.get("baselines")
    if base:
        counts = ", ".join(f"{k} {v:,}" for k, v in base["label_counts"].items())
        lines.append(
            f"Baselines (majority class; TF-IDF word 1-2 grams, at most 200k features + "
            f"logistic regression on `claim [SEP] response`, and the same on the claim alone, "
            f"`claim_only`) were trained on the mix of "
            f"`{base['training_config']}`: {base['train_rows']:,} rows ({counts})."
        )
    lines += [
        "The behavioural suite is in no training mix.",
        "",
        "## Datasets",
        "",
        "Each cell is the dataset's metric; macro_f1 is averaged over the labels present in "
        "the gold data. 95% bootstrap intervals and row counts are in leaderboard.json.",
        "",
        "| dataset | filter | metric | n | " + " | ".join(names) + " |",
        "|---|---|---|---:|" + "---:|" * len(names),
    ]
    notes: list[str] = []
    for d in board["datasets"]:
        row = board["cells"][d["name"]]
        n = next((c["n"] for c in row.values() if c.get("value") is not None), None)
        values = []
        for name in names:
            cell = row.get(name, {})
            if cell.get("value") is None:
                notes.append(f"{d['name']} / {name}: {cell.get('error', 'not run')}")
                values.append(f"error [{len(notes)}]")
            else:
                values.append(f"{cell['value']:.3f}")
        filters = ", ".join(
            f"{k}={'|'.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in d["filter"].items()
        )
        lines.append(
            f"| {d['name']} | {filters or '-'} | {d['metric']} | "
            f"{'' if n is None else f'{n:,}'} | " + " | ".join(values) + " |"
        )
    if notes:
        lines += ["", "Errors:", ""]
        lines += [f"{i}. {note}" for i, note in enumerate(notes, 1)]
    results = board["behavioural"]["results"]
    if board["behavioural"]["suite"]:
        lines += [
            "",
            "## Behavioural suite (pass rate)",
            "",
            f"Suite: `{board['behavioural']['suite']}`; a pair passes when the predicted "
            "label equals its label. Failures: behavioural.md. n/a: the model's labels are "
            "not the suite's.",
            "",
        ]
        lines += behavioural.pass_rate_table(
            {name: (r if r and "error" not in r else None) for name, r in results.items()}
        )
    invariant = board.get("invariance") or {}
    if invariant:
        lines += [
            "",
            "## Invariance suite (pass rate)",
            "",
            "`eval/invariance.py`: held-out claims against responses about other topics "
            "(offtopic: neutral), and counterfactual items (a claim against its paraphrase, "
            "its negation and a number change; the negation as the claim against the "
            "paraphrase). Flip rate: items where both the paraphrase and the negated claim "
            "are right (the label moves with the claim).",
            "",
        ]
        lines += behavioural.pass_rate_table(invariant)
        lines.append(
            "| flip rate | | "
            + " | ".join("n/a" if not r else f"{r['flip_rate']:.3f}" for r in invariant.values())
            + " |"
        )
    return "\n".join(lines) + "\n"


def write_leaderboard(board: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write leaderboard.md, leaderboard.json and behavioural.md into ``out_dir``."""
    from stance.errors import OutputError

    paths = {
        "markdown": out_dir / "leaderboard.md",
        "json": out_dir / "leaderboard.json",
        "behavioural": out_dir / "behavioural.md",
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths["json"].write_text(json.dumps(board, indent=2, ensure_ascii=False) + "\n")
        paths["markdown"].write_text(leaderboard_markdown(board))
        results = board["behavioural"]["results"]
        if board["behavioural"]["suite"]:
            paths["behavioural"].write_text(
                behavioural.failures_markdown(
                    {n: (r if r and "error" not in r else None) for n, r in results.items()}
                )
            )
        else:
            paths.pop("behavioural")
    except OSError as exc:
        raise OutputError(f"cannot write the leaderboard to {out_dir}: {exc}") from None
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="eval/run_suite.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", metavar="CONFIG", help="suite config (YAML)")
    parser.add_argument("--out", default="eval/results", help="output folder (%(default)s)")
    parser.add_argument(
        "--reports", action="store_true", help="also write a report folder per cell"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress messages")
    args = parser.parse_args(argv)
    from stance.errors import StanceError

    command = shlex.join(["python", "eval/run_suite.py", *argv])
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        config = load_config(args.config)
        out_dir = Path(args.out)
        board = run(
            config,
            out_dir,
            command,
            args.config,
            reports=args.reports,
            progress=not args.quiet,
        )
        paths = write_leaderboard(board, out_dir)
    except StanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {paths['markdown']} and {paths['json']}")
    failed = [
        f"{d} / {m}" for d, row in board["cells"].items() for m, c in row.items() if c.get("error")
    ]
    if failed:
        print(f"{len(failed)} cells failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_CELLS_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
