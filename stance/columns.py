"""Which column of a table holds what, and which of its rows can be used.

A :class:`Columns` value says where a table's pairs are: the claim, response, optional
context and label columns, how the data's labels map onto the model's, which rows the
filters keep, and the prefix of the columns scoring adds. Scoring, evaluation,
calibration, training data and the Ray integration read their tables through it, and
:class:`~stance.StanceClassifier` checks the pairs it is given with :func:`coerce_rows`.

Two rules hold everywhere:

- **Dotted names.** A name that is not a column itself may be dotted: ``meta.parent_text``
  reads the key ``parent_text`` of the dict column ``meta`` (missing where a row lacks
  it). :func:`check_columns` accepts such a name when its first part is a column.
- **Filters compare text.** ``split=test`` keeps the rows whose ``split`` reads as
  ``test`` (:func:`filter_text`: ``1`` matches ``"1"``, ``True`` matches ``"true"``).
  Values on the command line are text and a CSV file holds only text while JSONL and
  Parquet hold numbers and booleans, so comparing text is the rule under which one
  filter means the same thing whatever the file format and wherever it is written.

This module imports neither torch nor pandas (it reads the frames it is given), so
data-only modules stay light and ``import stance.model`` does not load pandas.

>>> columns = Columns.from_options({"claim_column": "headline", "filters": ["split=test"]})
>>> columns.claim, columns.response, columns.filters
('headline', 'response', {'split': ('test',)})
>>> row_problems({"claim": ["Prices rose.", None], "response": ["They fell.", " "]})
['', 'claim is missing; response is empty']
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from stance.errors import ConfigError, InputDataError, did_you_mean

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "ALL_OPTIONS",
    "CONFIG_KEYS",
    "LABELLED_OPTIONS",
    "OPTIONS",
    "PAIR_OPTIONS",
    "ROW_RULES",
    "Columns",
    "LabelledOptions",
    "PairOptions",
    "check_added",
    "check_columns",
    "check_first_rows",
    "check_nested_key",
    "check_table",
    "coerce_pairs",
    "coerce_rows",
    "column_values",
    "columns_for_model",
    "context_values",
    "filter_text",
    "filter_texts",
    "output_columns",
    "parse_assignments",
    "row_problems",
    "text_problem",
]

OPTIONS = {
    "claim": "--claim-column",
    "response": "--response-column",
    "label": "--label-column",
    "context": "--context-column",
    "filter": "--filter",
}
"""The command-line option that names each role's column, for error messages."""

CONFIG_KEYS = {
    "claim": "claim_column",
    "response": "response_column",
    "label": "label_column",
    "context": "context_column",
    "filter": "filter",
}
"""The training-config key that names each role's column, for error messages."""


# --------------------------------------------------------------------------- options


class PairOptions(TypedDict, total=False):
    """The column keyword arguments of the scoring functions (``score_file``, Ray)."""

    columns: Columns
    claim_column: str
    response_column: str
    context_column: str | None
    prefix: str


class LabelledOptions(TypedDict, total=False):
    """The column keyword arguments of the functions that read labelled files
    (``evaluate``, ``calibrate``, ``read_labelled``)."""

    columns: Columns
    claim_column: str
    response_column: str
    context_column: str | None
    label_column: str
    label_map: Mapping[str, Any] | Iterable[str] | None
    filters: Mapping[str, Any] | Iterable[str] | None


PAIR_OPTIONS = PairOptions.__optional_keys__
LABELLED_OPTIONS = LabelledOptions.__optional_keys__
ALL_OPTIONS = PAIR_OPTIONS | LABELLED_OPTIONS
_FIELDS = {
    "claim_column": "claim",
    "response_column": "response",
    "context_column": "context",
    "label_column": "label",
    "label_map": "label_map",
    "filters": "filters",
    "prefix": "prefix",
}


def parse_assignments(items: Iterable[str] | None, option: str) -> dict[str, list[str]]:
    """Parse ``KEY=VALUE`` strings into ``{key: [values]}`` (a repeated key collects values).

    >>> parse_assignments(["split=test", "split=dev", "lang=en"], "--filter")
    {'split': ['test', 'dev'], 'lang': ['en']}
    """
    out: dict[str, list[str]] = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects KEY=VALUE, got {item!r}; e.g. {option} split=test")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def filter_text(value: Any) -> str:
    """The text a filter compares a value as: ``1`` matches ``"1"``, ``True`` ``"true"``.

    >>> filter_text(1), filter_text(True), filter_text("dev")
    ('1', 'true', 'dev')
    """
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _label_map_dict(label_map: Mapping[str, Any] | Iterable[str] | None) -> dict[str, str]:
    if label_map is None:
        return {}
    if isinstance(label_map, Mapping):
        return {str(k): str(v) for k, v in label_map.items()}
    parsed = parse_assignments(label_map, "--label-map")
    twice = {k: v for k, v in parsed.items() if len(set(v)) > 1}
    if twice:
        raise ConfigError(f"--label-map maps a label to more than one target: {twice}")
    return {k: v[0] for k, v in parsed.items()}


def _filter_dict(
    filters: Mapping[str, Any] | Iterable[str] | None,
) -> dict[str, tuple[str, ...]]:
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        filters = parse_assignments(filters, "--filter")
    out = {}
    for key, wanted in filters.items():
        values = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        out[str(key)] = tuple(sorted({filter_text(v) for v in values}))
    return out


# --------------------------------------------------------------------------- Columns


@dataclass(frozen=True)
class Columns:
    """Where a table's pairs are, and which of its rows count.

    ``context`` is ``None`` for a table without context. ``label_map`` maps data labels
    onto the model's (labels the model has map to themselves); ``filters`` keeps the rows
    whose column reads as one of the values (:func:`filter_text`); both may also be given
    as on the command line (``["agree=support"]``, ``["split=test"]``) and are stored as
    a dict of text. ``prefix`` starts the names of the columns scoring adds.

    >>> columns = Columns(context="meta.parent_text", filters={"split": "test"})
    >>> columns.claim, columns.context, columns.filters
    ('claim', 'meta.parent_text', {'split': ('test',)})
    """

    claim: str = "claim"
    response: str = "response"
    context: str | None = None
    label: str = "label"
    label_map: Mapping[str, str] = field(default_factory=dict)
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    prefix: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_map", _label_map_dict(self.label_map))
        object.__setattr__(self, "filters", _filter_dict(self.filters))

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], accepted: Collection[str] = ALL_OPTIONS
    ) -> Columns:
        """The value the keyword arguments of ``evaluate``, ``score_file``, ... describe.

        ``options`` holds ``columns`` (a :class:`Columns`; default: the default columns)
        and the per-column keywords (``claim_column``, ``filters``, ...), which override
        its fields. A keyword outside ``accepted`` is a :class:`TypeError`, as for any
        function.

        >>> options = {"columns": Columns(claim="headline"), "label_column": "stance"}
        >>> Columns.from_options(options).claim, Columns.from_options(options).label
        ('headline', 'stance')
        >>> Columns.from_options({"claim_colum": "x"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: unexpected keyword argument 'claim_colum'; ... Did you mean 'claim_column'?
        """
        unknown = [key for key in options if key not in accepted]
        if unknown:
            raise TypeError(
                f"unexpected keyword argument {unknown[0]!r}; the column options are "
                f"{sorted(accepted)}.{did_you_mean(unknown[0], accepted)}"
            )
        base = options.get("columns") or cls()
        changes = {_FIELDS[key]: value for key, value in options.items() if key != "columns"}
        return dataclasses.replace(base, **changes) if changes else base

    def without_context(self) -> Columns:
        """The same columns with no context column (for a model trained without context)."""
        return dataclasses.replace(self, context=None)

    def roles(self, labelled: bool = False) -> list[tuple[str, str]]:
        """``(role, name)`` of the columns a row's values come from: claim, response, the
        label when ``labelled``, and the context when there is one.

        >>> Columns(context="meta.parent_text").roles(labelled=True)[2:]
        [('label', 'label'), ('context', 'meta.parent_text')]
        """
        wanted = [("claim", self.claim), ("response", self.response)]
        if labelled:
            wanted.append(("label", self.label))
        if self.context is not None:
            wanted.append(("context", self.context))
        return wanted

    def describe_filters(self) -> dict[str, list[str]]:
        """The filters as ``{column: sorted values}``, for reports and JSON.

        >>> Columns(filters=["split=test", "split=dev"]).describe_filters()
        {'split': ['dev', 'test']}
        """
        return {key: list(values) for key, values in self.filters.items()}

    def keep(
        self, frame: pd.DataFrame, source: str, seen: Mapping[str, Counter[str]] | None = None
    ) -> np.ndarray:
        """Boolean mask of the rows of ``frame`` that every filter keeps.

        ``seen`` (one counter per filter column), when given, counts the values read.
        """
        import numpy as np

        keep = np.ones(len(frame), dtype=bool)
        for key, allowed in self.filters.items():
            values = filter_texts(frame, key, source)
            if seen is not None:
                seen[key].update(values.tolist())
            keep &= values.isin(allowed).to_numpy()
        return keep


def columns_for_model(model: Any, columns: Columns, stacklevel: int = 2) -> Columns:
    """``columns`` as ``model`` reads them: without the context column for a
    :class:`~stance.StanceClassifier` trained without context.

    The classifier warns (:class:`~stance.model.ContextWarning`) when the context and the
    model disagree; ``stacklevel`` points the warning at the caller's caller, as in
    :func:`warnings.warn`. Other models (anything with ``labels`` and ``predict_proba``)
    get the columns as they are.
    """
    if not hasattr(model, "uses_context"):
        return columns
    from stance.model import context_for_model  # a classifier is loaded: torch is too

    given = columns.context is not None
    used = context_for_model(model, given, stacklevel=stacklevel + 1)
    return columns if used or not given else columns.without_context()


def output_columns(labels: Sequence[str], prefix: str = "") -> list[str]:
    """Names of the columns scoring adds, in order.

    >>> output_columns(("support", "denial"))
    ['label', 'p_support', 'p_denial', 'error']
    """
    return [f"{prefix}label", *(f"{prefix}p_{label}" for label in labels), f"{prefix}error"]


# --------------------------------------------------------------------------- reading


def column_values(frame: pd.DataFrame, name: str, source: str) -> pd.Series:
    """A column of ``frame``, or for a dotted name ``a.b`` the key ``b`` inside the dict
    column ``a`` (missing where a row lacks it); ``source`` names the data in the error.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"text": ["x", "y"], "meta": [{"parent": "Source?"}, {}]})
    >>> column_values(frame, "meta.parent", "replies.jsonl").isna().tolist()
    [False, True]
    >>> column_values(frame, "txt", "replies.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stance.errors.InputDataError: replies.jsonl has no column 'txt'; ... Did you mean 'text'?
    """
    if name in frame.columns:
        return frame[name]
    head, _, rest = name.partition(".")
    if rest and head in frame.columns:
        return frame[head].map(lambda d: _dig(d, rest))
    raise InputDataError(
        f"{source} has no column {name!r}; columns found: {list(map(str, frame.columns))}."
        f"{did_you_mean(name, map(str, frame.columns))}"
    )


def filter_texts(frame: pd.DataFrame, name: str, source: str) -> pd.Series:
    """The column ``name`` of ``frame`` as the text filters compare (:func:`filter_text`)."""
    return column_values(frame, name, source).map(filter_text)


def _dig(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# --------------------------------------------------------------------------- checking columns


def check_columns(
    found: Sequence[str],
    columns: Columns,
    source: str,
    *,
    labelled: bool = False,
    fix: str = "Pass the right name with {option}.",
) -> None:
    """Fail clearly when a column ``columns`` names is not among ``found``.

    A dotted name passes when it is a column or its first part is. ``labelled`` also
    checks the label and filter columns. ``fix`` ends the message; ``{option}`` in it is
    the command-line option of the role (:data:`OPTIONS`), ``{key}`` its training-config
    key (:data:`CONFIG_KEYS`).

    >>> check_columns(["claim", "response", "meta"], Columns(context="meta.parent"), "t.jsonl")
    >>> check_columns(["claim", "reply"], Columns(), "t.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stance.errors.InputDataError: t.csv has no response column 'response'; ... --response-column.
    """
    found = list(found)
    filters = [("filter", key) for key in columns.filters] if labelled else []
    for role, name in [*columns.roles(labelled), *filters]:
        if name not in found and name.partition(".")[0] not in found:
            how = fix.format(option=OPTIONS[role], key=CONFIG_KEYS[role])
            raise InputDataError(
                f"{source} has no {role} column {name!r}; columns found: {found}."
                f"{did_you_mean(name, found)} {how}"
            )


def check_added(found: Sequence[str], added: Sequence[str], source: str) -> None:
    """Fail when a column scoring would add (``added``) is among ``found`` already.

    >>> check_added(["claim", "label"], ["label", "error"], "t.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stance.errors.InputDataError: t.csv already has column(s) ['label'], ... --prefix pred_ ...
    """
    clashes = [c for c in added if c in found]
    if clashes:
        raise InputDataError(
            f"{source} already has column(s) {clashes}, which scoring would overwrite; "
            "rename them, or pass --prefix pred_ to name the new columns pred_label, ..."
        )


def check_nested_key(frame: pd.DataFrame, name: str, source: str, fix: str = "") -> None:
    """Fail when the dotted ``name`` (``a.b``) reaches into the dict column ``a`` but no row
    of ``frame`` holds the key ``b`` (a mistyped key would otherwise read as all missing).

    ``fix`` ends the message (e.g. how to pass another name). Plain column names, and
    rows that hold the key with a null value, pass.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"meta": [{"parent_text": None}, {"depth": 1}]})
    >>> check_nested_key(frame, "meta.parent_text", "replies.jsonl")
    >>> check_nested_key(frame, "meta.parent", "replies.jsonl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stance.errors.InputDataError: replies.jsonl has no column 'meta.parent': ... 'meta.parent_text'?
    """
    head, _, rest = name.partition(".")
    if name in frame.columns or not rest or head not in frame.columns or not len(frame):
        return
    parts = rest.split(".")
    found: set[str] = set()
    for value in frame[head]:
        for depth, part in enumerate(parts):
            if not isinstance(value, dict):
                break
            found.update(".".join([head, *parts[:depth], str(key)]) for key in value)
            if part not in value:
                break
            value = value[part]
        else:
            return
    shown = sorted(found)[:20]
    raise InputDataError(
        f"{source} has no column {name!r}: no row's {head!r} holds the key {rest!r}; "
        f"dotted names found: {shown}.{did_you_mean(name, found)}{' ' + fix if fix else ''}"
    )


def check_first_rows(path: Path, name: str, option: str, rows: int = 2048) -> None:
    """:func:`check_nested_key` on the first ``rows`` rows of the table file ``path``, so a
    dotted column name whose key no row holds fails before a model loads or output is
    written; ``option`` names the command-line option that passes the name."""
    from stance import io  # reads with pandas, which this module does not import itself

    batches = io.iter_batches(path, rows)
    try:
        first = next(batches, None)
    finally:
        batches.close()
    if first is not None:
        check_nested_key(first, name, str(path), f"Pass the right name with {option}.")


def check_table(
    path: Path, columns: Columns, *, labelled: bool = False, added: Sequence[str] = ()
) -> None:
    """:func:`check_columns` and :func:`check_added` on the columns of the table file
    ``path`` (when it knows them before reading rows), and for a dotted context name
    :func:`check_first_rows`: every check that can run before a model loads.

    Only the context's key is looked for in the rows: a mistyped key of another column
    shows anyway (rows without a claim are reported, a filter that keeps nothing lists
    the values it saw), but a missing context would silently read as "no context".
    """
    from stance import io

    found = io.read_columns(path)
    if not found:
        return
    check_columns(found, columns, str(path), labelled=labelled)
    check_added(found, added, str(path))
    if columns.context is not None and columns.context not in found:
        check_first_rows(path, columns.context, OPTIONS["context"])


# --------------------------------------------------------------------------- checking rows


def text_problem(value: Any) -> str | None:
    """Why ``value`` cannot be scored as text, or ``None`` if it can.

    >>> text_problem("  ")
    'is empty'
    >>> text_problem(None)
    'is missing'
    >>> import pandas as pd
    >>> text_problem(pd.NA)  # how pandas' string and Arrow-backed columns hold a gap
    'is missing'
    """
    if value is None or _is_pandas_na(value):
        return "is missing"
    if isinstance(value, float) and value != value:
        return "is missing"
    if not isinstance(value, str):
        return f"is not text (got {type(value).__name__} {value!r:.40})"
    if not value.strip():
        return "is empty"
    return None


def _is_pandas_na(value: Any) -> bool:
    """``value is pandas.NA``, without importing pandas (no pandas loaded: no ``pd.NA``)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and value is pandas.NA


def _context_problem(value: Any) -> str | None:
    """A context may be missing or empty (no context), but not other than text."""
    problem = text_problem(value)
    return None if problem in ("is missing", "is empty") else problem


def _label_problem(value: Any) -> str | None:
    """A label may be a number or other value (the label map reads it as text), but not
    missing or empty."""
    problem = text_problem(value)
    return None if problem and problem.startswith("is not text") else problem


ROW_RULES: dict[str, Callable[[Any], str | None]] = {
    "claim": text_problem,
    "response": text_problem,
    "label": _label_problem,
    "context": _context_problem,
}
"""What each role's value must be: claims and responses text, labels present, contexts
text or nothing."""


def row_problems(values: Mapping[str, Sequence[Any]]) -> list[str]:
    """What makes each row unusable: ``""`` for a usable row, else ``role problem`` for
    every role that has one, in the order of ``values``, joined by ``"; "``.

    ``values`` maps roles (``claim``, ``response``, ``label``, ``context``; see
    :data:`ROW_RULES`) to one value per row.

    >>> row_problems({"claim": ["a", "b"], "response": [None, "c"], "context": [5, None]})
    ['response is missing; context is not text (got int 5)', '']
    >>> row_problems({"claim": ["a"], "label": [3]})  # labels may be numbers
    ['']
    """
    rules = [(role, ROW_RULES[role]) for role in values]
    out = []
    for row in zip(*values.values(), strict=True):
        found = [
            f"{role} {problem}"
            for (role, rule), value in zip(rules, row, strict=True)
            if (problem := rule(value))
        ]
        out.append("; ".join(found))
    return out


def context_values(values: Sequence[Any]) -> tuple[list[str | None], list[tuple[int, str]]]:
    """Contexts as text or ``None`` (missing, NaN or empty: no context), and the
    ``(row, problem)`` of values that are neither (numbers, lists, ...).

    >>> context_values(["Source?", None, float("nan"), "  ", 5])
    (['Source?', None, None, None, None], [(4, 'is not text (got int 5)')])
    """
    out: list[str | None] = []
    problems = []
    for i, value in enumerate(values):
        usable = text_problem(value) is None
        out.append(value if usable else None)
        problem = None if usable else _context_problem(value)
        if problem:
            problems.append((i, problem))
    return out, problems


# --------------------------------------------------------------------------- pairs given in code


def coerce_pairs(pairs: Any) -> tuple[list[str], list[str]]:
    """Validate ``pairs`` and split them into claims and responses (no context allowed).

    >>> coerce_pairs([("a claim", "a response")])
    (['a claim'], ['a response'])
    """
    claims, responses, _ = _coerce(pairs, with_context=False)
    return claims, responses


def coerce_rows(pairs: Any) -> tuple[list[str], list[str], list[str | None] | None]:
    """Validate pairs or triples and split them into claims, responses and contexts.

    ``contexts`` is ``None`` when no row has a context input (only pairs, or a DataFrame
    without a ``context`` column); otherwise one per row, ``None`` where a row has no
    context (a pair, or a context that is ``None``, NaN or empty).

    >>> coerce_rows([("a claim", "a reply", "the post it answers"), ("a claim", "a reply")])
    (['a claim', 'a claim'], ['a reply', 'a reply'], ['the post it answers', None])
    >>> coerce_rows([("a claim", "a reply")])
    (['a claim'], ['a reply'], None)
    """
    return _coerce(pairs, with_context=True)


def _coerce(pairs: Any, with_context: bool) -> tuple[list[str], list[str], list[str | None] | None]:
    pandas = sys.modules.get("pandas")  # no pandas loaded: pairs cannot be a DataFrame
    if pandas is not None and isinstance(pairs, pandas.DataFrame):
        claims, responses, contexts = _split_frame(pairs, with_context)
    else:
        _refuse_single_items(pairs, with_context)
        claims, responses, contexts = _split_rows(pairs, with_context)
    _refuse_bad_texts(claims, responses, contexts)
    return claims, responses, None if contexts is None else context_values(contexts)[0]


def _shape(with_context: bool) -> str:
    return "(claim, response) pair" + (
        " or (claim, response, context) triple" if with_context else ""
    )


def _split_frame(frame: pd.DataFrame, with_context: bool) -> tuple[list, list, list | None]:
    missing = [c for c in ("claim", "response") if c not in frame.columns]
    if missing:
        hint = "".join(did_you_mean(m, map(str, frame.columns)) for m in missing)
        raise InputDataError(
            f"expected a DataFrame with 'claim' and 'response' columns, but {missing} "
            f"missing; columns found: {list(frame.columns)}.{hint} Rename them, e.g. "
            "df.rename(columns={'headline': 'claim', 'body': 'response'})"
        )
    contexts = None
    if with_context and "context" in frame.columns:
        contexts = list(frame["context"])
    return list(frame["claim"]), list(frame["response"]), contexts


def _refuse_single_items(pairs: Any, with_context: bool) -> None:
    """Refuse one string, or one pair or triple not wrapped in a list."""
    shape = _shape(with_context)
    if isinstance(pairs, (str, bytes)):
        raise InputDataError(
            f"expected a list of {shape}s, got a single {type(pairs).__name__}; "
            "pass [(claim, response)]"
        )
    if (
        isinstance(pairs, tuple)
        and len(pairs) in ((2, 3) if with_context else (2,))
        and all(isinstance(p, str) for p in pairs)
    ):
        kind = "pair" if len(pairs) == 2 else "triple"
        items = "claim, response" if len(pairs) == 2 else "claim, response, context"
        raise InputDataError(
            f"expected a list of {shape}s, got one {kind} as a tuple of {len(pairs)} "
            f"strings; wrap it in a list: [({items})]"
        )


def _split_rows(pairs: Any, with_context: bool) -> tuple[list, list, list | None]:
    try:
        rows = list(pairs)
    except TypeError:
        raise InputDataError(
            f"expected a list of {_shape(with_context)}s or a DataFrame, got {type(pairs).__name__}"
        ) from None
    sizes = (2, 3) if with_context else (2,)
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__") or len(row) not in sizes:
            expected = "a (claim, response) tuple of two strings" + (
                " or a (claim, response, context) triple" if with_context else ""
            )
            raise InputDataError(f"pair {i}: expected {expected}, got {row!r}")
    contexts = None
    if any(len(row) == 3 for row in rows):
        contexts = [row[2] if len(row) == 3 else None for row in rows]
    return [row[0] for row in rows], [row[1] for row in rows], contexts


def _refuse_bad_texts(claims: list, responses: list, contexts: list | None) -> None:
    values = {"claim": claims, "response": responses}
    if contexts is not None:
        values["context"] = contexts
    problems = [f"pair {i}: {p}" for i, p in enumerate(row_problems(values)) if p]
    if problems:
        more = f" (and {len(problems) - 5} more pairs)" if len(problems) > 5 else ""
        rule = "every claim and response must be a non-empty string"
        if contexts is not None:
            rule += ", and a context a string or None"
        raise InputDataError(f"{rule}; " + "; ".join(problems[:5]) + more)
