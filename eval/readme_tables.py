"""Write the README's default-model tables from the committed result files.

    python eval/readme_tables.py          # rewrite the README blocks
    python eval/readme_tables.py --check  # exit 1 when a README block is stale

Each table sits between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in
``README.md`` and is built only from files that ``eval/default_model_table.py`` wrote
(``eval/results/*.json``), so every figure in it has a file behind it;
``tests/test_readme_figures.py`` runs the check. The blocks:

- ``default-model-table``: the shipped model against the one before, with the targets
  of the default-model issue and whether each is met;
- ``permissive-table``: the shipped model against the recipe restricted to permissive
  and share-alike sources (``configs/default_model_permissive.yaml``);
- ``large-model-table``: the large model (MPNet-base) against the default model, with the
  targets of the large-model issue (29): its own where it sets one, else the default
  model's figure ("at least v7's").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import compare_tables

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "eval" / "results"
README = REPO / "README.md"
SHIPPED = ("v7", RESULTS / "default_model_v7.json")
PREVIOUS = ("v6", RESULTS / "default_model_v6.json")
PERMISSIVE = ("permissive", RESULTS / "permissive.json")
LARGE = ("large", RESULTS / "large_model_v2.json")

# What the default-model issue (18) asks a new version to keep from v5.
KEEP = {
    "SNLI test": 0.78,
    "SICK test": 0.86,
    "Perspectrum test": 0.68,
    "ARC test": 0.65,
    "RumourEval-2019 dev": 0.40,
    "Circa test": 0.77,
}
# Its targets where the result files carry none (the table script knows the older ones).
TARGETS = {"MNLI-mismatched (not in TaxiNLI)": 0.75, "Behavioural suite": 0.75}
INVARIANCE_ROWS = {
    "offtopic": ("Off-topic responses neutral (invariance suite)", 0.98),
    "cf_paraphrase": ("Paraphrase as support (invariance suite)", None),
    "cf_negation": ("Negation of the claim as denial (invariance suite)", None),
}
# The large-model issue's targets; every other headline row: at least the default model's.
LARGE_TARGETS = {
    "MNLI-mismatched (not in TaxiNLI)": 0.80,
    "XNLI-en test": 0.82,
    "Behavioural suite": 0.80,
}
LARGE_INVARIANCE_TARGETS = {"offtopic": 0.98, "cf_paraphrase": 0.90, "cf_negation": 0.90}
HEADLINE_ROWS = [
    "SNLI test",
    "SICK test",
    "Perspectrum test",
    "IBM claim stance test",
    "RumourEval-2019 dev",
    "ARC test",
    "Friends-QIA test",
    "Circa test",
    "MNLI-mismatched (not in TaxiNLI)",
    "Behavioural suite",
]


def headline(file: dict, dataset: str) -> float | None:
    """The headline figure of ``dataset`` in ``file`` (see :func:`compare_tables.headline`),
    or ``None`` when the file did not measure it."""
    result = file["results"].get(dataset)
    return None if result is None else compare_tables.headline(result, file)


def _capability(file: dict, name: str) -> float | None:
    suite = file["results"].get("Invariance suite")
    return None if suite is None else suite["per_capability"].get(name)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _met(value: float, target: float | None, keep: float | None) -> str:
    """ "yes" when the target and the keep floor are met, "keep" when only the floor is,
    "T only" when only the target is (a floor above it was missed), else "no"."""
    if target is None:
        return "-"
    floor_met = keep is None or value >= keep
    if value >= target:
        return "yes" if floor_met else f"{target:.2f} only"
    return "keep" if keep is not None and floor_met else "no"


def default_model_table(new: tuple[str, dict], old: tuple[str, dict]) -> str:
    """The shipped model against the previous one, with the issue's targets.

    >>> file = {"precisions": ["fp32"], "results": {"SNLI test": {
    ...     "n": 10, "metric": "accuracy", "target": 0.85, "fp32": 0.79}}}
    >>> print(default_model_table(("v6", file), ("v5", file)).splitlines()[2])
    | SNLI test | 10 | accuracy | 0.790 | 0.790 | 0.85 (keep 0.78) | keep |
    """
    (new_name, new_file), (old_name, old_file) = new, old
    lines = [
        f"| dataset | n | metric | {new_name} | {old_name} | target | met |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for dataset in HEADLINE_ROWS:
        row = new_file["results"].get(dataset)
        if row is None:
            continue
        value = headline(new_file, dataset)
        target = TARGETS.get(dataset, row["target"])
        keep = KEEP.get(dataset)
        shown = "-" if target is None else f"{target:.2f}"
        if keep is not None and target is not None and keep != target:
            shown += f" (keep {keep:.2f})"
        lines.append(
            f"| {dataset} | {row['n']:,} | {row['metric']} | {_cell(value)} | "
            f"{_cell(headline(old_file, dataset))} | {shown} | {_met(value, target, keep)} |"
        )
    targets = {capability: target for capability, (_, target) in INVARIANCE_ROWS.items()}
    lines += _invariance_rows(new_file, old_file, targets)
    return "\n".join(lines)


def _invariance_rows(new_file: dict, old_file: dict, targets: dict[str, float | None]) -> list[str]:
    """One row per invariance capability in ``targets`` that ``new_file`` measured: both
    models' pass rates, the target and whether it is met."""
    rows = []
    for capability, target in targets.items():
        value = _capability(new_file, capability)
        if value is None:
            continue
        met = "-" if target is None else ("yes" if value >= target else "no")
        rows.append(
            f"| {INVARIANCE_ROWS[capability][0]} | | accuracy | {_cell(value)} | "
            f"{_cell(_capability(old_file, capability))} | "
            f"{'-' if target is None else f'{target:.2f}'} | {met} |"
        )
    return rows


def comparison_table(base: tuple[str, dict], other: tuple[str, dict]) -> str:
    """Every dataset both files measured, side by side, with the difference.

    >>> a = {"precisions": ["fp32"], "results": {"SNLI test": {
    ...     "n": 10, "metric": "accuracy", "target": 0.85, "fp32": 0.79}}}
    >>> b = {"precisions": ["fp32"], "results": {"SNLI test": {
    ...     "n": 10, "metric": "accuracy", "target": 0.85, "fp32": 0.75}}}
    >>> print(comparison_table(("v6", a), ("permissive", b)).splitlines()[2])
    | SNLI test | 10 | accuracy | 0.790 | 0.750 | -0.040 |
    """
    (base_name, base_file), (other_name, other_file) = base, other
    lines = [
        f"| dataset | n | metric | {base_name} | {other_name} | {other_name} - {base_name} |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for dataset, row in base_file["results"].items():
        a, b = headline(base_file, dataset), headline(other_file, dataset)
        if b is None:
            continue
        lines.append(
            f"| {dataset} | {row['n']:,} | {row['metric']} | {a:.3f} | {b:.3f} | {b - a:+.3f} |"
        )
    for capability in ("offtopic", "cf_paraphrase", "cf_negation"):
        a, b = _capability(base_file, capability), _capability(other_file, capability)
        if a is not None and b is not None:
            lines.append(
                f"| invariance: {capability} | | accuracy | {a:.3f} | {b:.3f} | {b - a:+.3f} |"
            )
    return "\n".join(lines)


def large_model_table(large: tuple[str, dict], default: tuple[str, dict]) -> str:
    """The large model against the default model, with the large-model issue's targets.

    >>> a = {"precisions": ["fp32"], "results": {"SNLI test": {
    ...     "n": 10, "metric": "accuracy", "target": 0.85, "fp32": 0.79}}}
    >>> b = {"precisions": ["fp32"], "results": {"SNLI test": {
    ...     "n": 10, "metric": "accuracy", "target": 0.85, "fp32": 0.81}}}
    >>> print(large_model_table(("large", b), ("v7", a)).splitlines()[2])
    | SNLI test | 10 | accuracy | 0.810 | 0.790 | v7's | yes |
    """
    (large_name, large_file), (default_name, default_file) = large, default
    lines = [
        f"| dataset | n | metric | {large_name} | {default_name} | target | met |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for dataset in [*HEADLINE_ROWS, "XNLI-en test"]:
        row = large_file["results"].get(dataset)
        if row is None:
            continue
        value, reference = headline(large_file, dataset), headline(default_file, dataset)
        target = LARGE_TARGETS.get(dataset, reference)
        shown = "-" if target is None else f"{target:.2f}"
        if dataset not in LARGE_TARGETS and target is not None:
            shown = f"{default_name}'s"
        met = "-" if target is None else ("yes" if value >= target else "no")
        lines.append(
            f"| {dataset} | {row['n']:,} | {row['metric']} | {_cell(value)} | "
            f"{_cell(reference)} | {shown} | {met} |"
        )
    lines += _invariance_rows(large_file, default_file, LARGE_INVARIANCE_TARGETS)
    return "\n".join(lines)


def blocks(results: Path = RESULTS) -> dict[str, str]:
    """Each README block's text, from the result files that exist."""

    def load(spec: tuple[str, Path]) -> tuple[str, dict] | None:
        name, path = spec
        path = results / path.name
        return (name, json.loads(path.read_text())) if path.is_file() else None

    shipped, previous, permissive = load(SHIPPED), load(PREVIOUS), load(PERMISSIVE)
    large = load(LARGE)
    out = {}
    if shipped and previous:
        out["default-model-table"] = default_model_table(shipped, previous)
    if shipped and permissive:
        out["permissive-table"] = comparison_table(shipped, permissive)
    if shipped and large:
        out["large-model-table"] = large_model_table(large, shipped)
    return out


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the lines between the markers of ``name`` replaced by ``body``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"README.md has no {start} ... {end} block: add the markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the README")
    args = parser.parse_args(argv)
    text = README.read_text()
    updated = text
    for name, body in blocks().items():
        updated = replace_block(updated, name, body)
    if args.check:
        if updated != text:
            print("README.md tables are stale: run python eval/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
