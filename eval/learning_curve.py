"""What more labels would buy: train a recipe on a share of its training rows, measure dev.

    python eval/learning_curve.py configs/rumoureval_context.yaml --fractions 0.25 0.5 \\
        --full runs/rumoureval-context --out eval/results/rumoureval_context_curve.json

For each fraction, ``stance train CONFIG`` runs with every training source capped at that
share of its rows (``sources.N.max_rows``, drawn with the config's seed) into
``runs/curve-<config>-<fraction>``; a run already there is reused. A config that holds
out ``validation.fraction`` of its rows (by claim) keeps that split and trains on
``train_fraction`` of the rest instead: capping the sources first would change the
held-out claims from one point to the next. The validation
macro-F1 and accuracy that training recorded (the best checkpoint's, on the config's
validation sources) go to ``--out``, with the machine that ran it; ``--full`` adds an
already trained run on all rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from machine import machine_description

REPO = Path(__file__).resolve().parent.parent


def capped_overrides(config: Path, fraction: float) -> list[str]:
    """``sources.N.max_rows=...`` overrides that keep ``fraction`` of each source's rows."""
    from stance.training import prepare_data
    from stance.training_config import TrainConfig

    train_config = TrainConfig.from_yaml(config)
    counts = prepare_data(train_config).train["source"].value_counts()
    return [
        f"sources.{i}.max_rows={max(1, round(counts[source.display_name()] * fraction))}"
        for i, source in enumerate(train_config.sources)
    ]


def share_overrides(config: Path, fraction: float) -> list[str]:
    """The overrides that train ``config`` on ``fraction`` of its rows, its validation
    rows unchanged."""
    from stance.training_config import TrainConfig

    if TrainConfig.from_yaml(config).validation.fraction:
        return [f"train_fraction={fraction}"]
    return capped_overrides(config, fraction)


def recorded(run: Path) -> dict:
    """Rows and validation figures that ``stance train`` wrote into ``run``."""
    from stance.model_config import ModelConfig

    provenance = ModelConfig.read(run).provenance
    validation = provenance["metrics"]["validation"]
    return {
        "run": str(run.resolve().relative_to(REPO))
        if run.resolve().is_relative_to(REPO)
        else str(run),
        "train_rows": provenance["train_rows"],
        "macro_f1": validation["eval_macro_f1"],
        "accuracy": validation["eval_accuracy"],
        "train_seconds": provenance["metrics"]["train"]["train_runtime"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--full", type=Path, help="a run of the same config on all rows")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from stance.model_config import STANCE_CONFIG
    from stance.training import train

    points = []
    for fraction in sorted(args.fractions):
        run = REPO / "runs" / f"curve-{args.config.stem}-{fraction:g}"
        if not (run / STANCE_CONFIG).is_file():
            overrides = share_overrides(args.config, fraction)
            train(args.config, output_dir=run, overrides=overrides, progress=False)
        points.append({"fraction": fraction, **recorded(run)})
    if args.full:
        points.append({"fraction": 1.0, **recorded(args.full)})
    # train_seconds depend on the machine; a reused run took those of the one that trained it
    result = {"config": str(args.config), "machine": machine_description(), "points": points}
    args.out.write_text(json.dumps(result, indent=2))
    for point in points:
        print(
            f"{point['fraction']:>5.0%}  {point['train_rows']:>6,} rows  "
            f"macro-F1 {point['macro_f1']:.3f}  accuracy {point['accuracy']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
