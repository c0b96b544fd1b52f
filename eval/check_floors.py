"""Install every dependency at the lowest version ``pyproject.toml`` allows and run the tests.

    python eval/check_floors.py                  # fresh venv in /tmp, then the test suite
    python eval/check_floors.py --venv DIR -- -x tests/test_io.py   # pytest arguments

Run it before each release: the declared floors are only true if the suite passes on
them. Every ``name>=X`` requirement of the core dependencies and of the ``test`` extra
is pinned to ``name==X`` (a constraints file), except torch: the only CPU wheel this
project's machines can install is ``torch==2.13.0`` (any older PyPI wheel pulls the CUDA
build), so torch's floor is not exercised here. The result, with the versions that were
installed and pytest's closing line, goes to ``eval/results/floors.md``. Python 3.11+
(``tomllib``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"
_FLOOR = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)")


def floors(pyproject: Path = REPO / "pyproject.toml") -> dict[str, str]:
    """``{package: lowest version}`` for the core and ``test`` requirements with a floor.

    >>> floors()["transformers"]
    '5.2'
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"] + project["optional-dependencies"]["test"])
    extras = project["optional-dependencies"]
    pinned = {}
    for requirement in requirements:
        if requirement.startswith(project["name"] + "["):  # claimstance[ray]: its floors
            extra = requirement.split("[", 1)[1].split("]", 1)[0]
            requirements += extras[extra]
            continue
        match = _FLOOR.match(requirement)
        if match is not None:
            pinned[match.group(1)] = match.group(3)
    pinned.pop("torch", None)
    return pinned


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(command), flush=True)
    return subprocess.run(command, check=False, text=True, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/stance-floors"))
    parser.add_argument("--out", type=Path, default=REPO / "eval" / "results" / "floors.md")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    args = parser.parse_args(argv)
    pinned = floors()
    constraints = args.venv.with_suffix(".constraints.txt")
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pinned.items()))
    python = args.venv / "bin" / "python"
    started = time.perf_counter()
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(args.venv)],
        [str(python), "-m", "pip", "install", "-q", TORCH],
        [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), "-e", ".[test]"],
    ]
    for step in steps:
        if _run(step, cwd=REPO).returncode != 0:
            print(f"the floor install failed at: {' '.join(step)}", file=sys.stderr)
            return 1
    installed = _run(
        [str(python), "-m", "pip", "freeze", "--exclude-editable"], cwd=REPO, capture_output=True
    ).stdout
    versions = {
        name.lower().replace("_", "-"): version
        for name, version in (
            line.split("==", 1) for line in installed.splitlines() if "==" in line
        )
    }
    tests = _run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args],
        cwd=REPO,
        capture_output=True,
    )
    print(tests.stdout[-3000:], tests.stderr[-2000:], sep="\n")
    closing = (tests.stdout.strip().splitlines() or ["(no output)"])[-1].strip("= ")
    minutes = (time.perf_counter() - started) / 60
    rows = "\n".join(
        f"| {name} | {version} | {versions.get(name.lower(), '?')} |"
        for name, version in sorted(pinned.items())
    )
    args.out.write_text(
        f"# Dependency floors\n\n`python eval/check_floors.py"
        f"{' -- ' + ' '.join(args.pytest_args) if args.pytest_args else ''}`, "
        f"{dt.date.today().isoformat()}, Python {platform.python_version()}, "
        f"{platform.machine()}; {minutes:.1f} minutes in all.\n\n"
        f"torch: {TORCH} (the only CPU wheel reachable here; its declared floor is not "
        f"exercised).\n\n"
        f"**pytest: {closing}** (exit code {tests.returncode})\n\n"
        f"| package | floor | installed |\n|---|---|---|\n{rows}\n"
    )
    print(f"wrote {args.out}")
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
