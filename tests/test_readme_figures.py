"""Every figure in the README and the model card comes from a committed result file.

Generated blocks must equal what their scripts write from the committed results, and a
paragraph that cites a result file (``eval/results/...``) may only state figures that
file holds (a percentage may be a fraction in the file; rounding is the README's).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import import_script

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "eval" / "results"
DOCUMENTS = [
    REPO / "README.md",
    REPO / "stance" / "default_model" / "README.md",
    REPO / "stance" / "large_model" / "README.md",
    REPO / "training" / "README.md",
]

# A figure: a decimal (0.754, 98.7%), a count with thousands separators (9,824), or a
# number followed by a unit the benchmarks report (634 MB, 2.9x). A signed figure (+0.034)
# is a difference: of two numbers of the cited files.
_FIGURE = re.compile(r"(?<![\w.])([+-]?)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(%|x\b| MB\b)?")
_CITED = re.compile(r"eval/results/([\w./-]+\.(?:md|json))|`([\w.-]+\.(?:md|json))`")
_FILE_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*(?:e-?\d+)?")


def _paragraphs(text: str) -> list[str]:
    """Blocks of text between blank lines and list items, outside code fences and
    generated blocks."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", "", text, flags=re.S)
    blocks = re.split(r"\n\s*\n", text)
    # each list item is a paragraph of its own: it cites its own files
    return [item for block in blocks for item in re.split(r"\n(?=- )", block) if item.strip()]


def _numbers(path: Path) -> list[float]:
    values = []
    for token in _FILE_NUMBER.findall(path.read_text()):
        try:
            values.append(float(token.replace(",", "")))
        except ValueError:
            continue
    return values


def _decimals(figure: str) -> int:
    return len(figure.split(".")[1]) if "." in figure else 0


def _held(figure: str, unit: str | None, numbers: list[float], sign: str = "") -> bool:
    value = float(figure.replace(",", ""))
    if sign:
        return _difference_held(-value if sign == "-" else value, _decimals(figure), numbers)
    places = _decimals(figure)
    candidates = [value] + ([value / 100] if unit == "%" else [])
    for number in numbers:
        for candidate, shift in zip(candidates, (0, 2), strict=False):
            if abs(round(number, places + shift) - candidate) < 10 ** -(places + shift) / 2:
                return True
    return False


def _difference_held(value: float, places: int, numbers: list[float]) -> bool:
    distinct = sorted({round(n, 6) for n in numbers if abs(n) <= 1})  # differences of rates
    return any(
        abs(round(a - b, places) - value) < 10**-places / 2 for a in distinct for b in distinct
    )


def _cited_files(paragraph: str) -> list[Path]:
    files = []
    for match in _CITED.finditer(paragraph):
        if match.group(1):
            files.append(RESULTS / match.group(1))
        elif (RESULTS / match.group(2)).is_file():  # a bare `name.json` of eval/results
            files.append(RESULTS / match.group(2))
    return files


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_figures_in_paragraphs_that_cite_a_result_file_are_in_that_file(document):
    missing = []
    for paragraph in _paragraphs(document.read_text()):
        files = _cited_files(paragraph)
        if not files:
            continue
        for path in files:
            assert path.is_file(), f"{document.name} cites {path}, which is not committed"
        numbers = [n for path in files for n in _numbers(path)]
        for match in _FIGURE.finditer(paragraph):
            sign, figure, unit = match.groups()
            if not _held(figure, unit, numbers, sign):
                where = paragraph.strip().splitlines()[0][:60]
                missing.append(f"{figure}{unit or ''} (paragraph '{where}...')")
    assert not missing, (
        f"{document.relative_to(REPO)} states figures its cited result files do not hold: {missing}"
    )


def test_readme_tables_are_written_from_the_committed_results():
    script = import_script("eval/readme_tables.py")
    assert script.main(["--check"]) == 0, "run python eval/readme_tables.py"


def test_readme_examples_are_the_committed_model_output():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- readme-examples:start -->")[1].split("<!-- readme-examples:end")[0]
    written = (RESULTS / "readme_examples.md").read_text()
    table = [line for line in block.strip().splitlines() if line.startswith("|")]
    assert table, "README has no examples table between its markers"
    assert "\n".join(table) in written


def test_the_figure_check_catches_a_figure_no_file_holds():
    numbers = [0.7817589576547231, 9824.0, 0.987]
    assert _held("0.782", None, numbers)
    assert _held("9,824", None, numbers)
    assert _held("98.7", "%", numbers)
    assert not _held("0.783", None, numbers)
    assert not _held("98.6", "%", numbers)
    assert _held("0.205", None, numbers, sign="+")  # 0.987 - 0.782
    assert not _held("0.206", None, numbers, sign="-")
