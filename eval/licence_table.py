"""Training rows per licence class for each version of the default model and its recipe.

    python eval/licence_table.py [--out eval/results/licences]

Reads every stage config of the default-model recipe (``training/train_default.py``)
and the permissive variant, draws each stage's training mix as training does
(:func:`stance.training.prepare_data`, so caps, balancing, weights and off-topic pairs
count), classes each source's ``licence`` with :func:`stance.licences.licence_class`,
and writes ``OUT.md`` and ``OUT.json``: rows per class for each stage and, summed over
the stages each version trained through, for each shipped version. Needs
``../shared/data`` and ``runs/data/augment.jsonl`` (``python training/augment.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGES = {
    "stage 1": "configs/default_model.yaml",
    "stage 2": "configs/default_model_stage2.yaml",
    "stage 3 reported": "configs/default_model_stage3_reported.yaml",
    "stage 3 background": "configs/default_model_stage3_background.yaml",
    "stage 4": "configs/default_model_stage4_debias.yaml",
    "stage 5": "configs/default_model_stage5_nli.yaml",
    "permissive variant": "configs/default_model_permissive.yaml",
}
#: the stages each shipped version trained through (v3 and v4 read older stage-3 configs)
VERSIONS = {
    "v1": ["stage 1"],
    "v2": ["stage 1", "stage 2"],
    "v5": ["stage 1", "stage 2", "stage 3 reported", "stage 3 background"],
    "v6": ["stage 1", "stage 2", "stage 3 reported", "stage 3 background", "stage 4"],
    "v7": ["stage 1", "stage 2", "stage 3 reported", "stage 3 background", "stage 4", "stage 5"],
    "permissive variant": ["permissive variant"],
}


def stage_sources(config_path: str) -> list[dict]:
    """The provenance records (name, licence, rows, ...) of one config's training mix."""
    from stance.training import prepare_data, source_records
    from stance.training_config import TrainConfig

    config = TrainConfig.from_yaml(REPO / config_path)
    return source_records(config, prepare_data(config).train)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "eval" / "results" / "licences"))
    args = parser.parse_args(argv)
    from stance.licences import CLASSES, restricted_sources, rows_per_class

    out = Path(args.out).resolve()
    os.chdir(REPO)  # stage configs read paths relative to the repository
    stages = {name: stage_sources(path) for name, path in STAGES.items()}
    versions = {}
    for version, names in VERSIONS.items():
        records = [r for name in names for r in stages[name]]
        versions[version] = {
            "rows": rows_per_class(records),
            "restricted_sources": sorted(set(restricted_sources(records))),
        }
    lines = [
        "# Training rows per licence class",
        "",
        "`python eval/licence_table.py`: each stage's training mix drawn as training draws it,",
        "each source's `licence` field classed by `stance.licences.licence_class`; a version",
        "counts the rows of every stage it trained through (v3 and v4 read older stage-3",
        "configs and are not listed).",
        "",
        "| version | " + " | ".join(CLASSES) + " | non-commercial or none stated |",
        "|---|" + "---:|" * (len(CLASSES) + 1),
    ]
    for version, info in versions.items():
        rows = info["rows"]
        total = sum(rows.values())
        restricted = rows["non-commercial"] + rows["none stated"]
        lines.append(
            f"| {version} | "
            + " | ".join(f"{rows[c]:,}" for c in CLASSES)
            + f" | {restricted / total:.0%} |"
        )
    lines += ["", "| stage | source | rows | licence | class |", "|---|---|---:|---|---|"]
    from stance.licences import licence_class

    for stage, records in stages.items():
        for r in records:
            lines.append(
                f"| {stage} | {r['name']} | {r['rows']:,} | {r['licence'] or 'not stated'} | "
                f"{licence_class(r['licence'])} |"
            )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(
        json.dumps({"versions": versions, "stages": stages}, indent=2)
    )
    print("\n".join(lines[: 9 + len(versions)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
