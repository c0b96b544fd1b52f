"""The ``stance eval`` and ``stance calibrate`` commands.

:func:`register` adds both subcommands to the subparsers object of the main parser
(``stance.cli.build_parser``); each handler returns an exit code or raises a
:mod:`stance.errors` class, which the main CLI turns into ``error: ...`` and its exit
code.

    stance eval test.jsonl --filter split=test --report reports/test
    stance calibrate dev.jsonl --model runs/m --filter split=dev
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stance.cli_common import (
    EPILOG,
    add_batch_size_option,
    add_model_options,
    load_classifier,
    quiet_transformers,
)
from stance.errors import InputDataError
from stance.progress import truncation_message

__all__ = ["register"]


def _assignment(text: str) -> str:
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE, got {text!r} (put DATA before options that take several "
            "values, e.g. stance eval DATA --label-map agree=support)"
        )
    return text


def _data_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("data", metavar="DATA", help="labelled CSV, JSONL(.gz) or Parquet file")
    add_model_options(sub)
    sub.add_argument("--claim-column", default="claim", metavar="C")
    sub.add_argument("--response-column", default="response", metavar="R")
    sub.add_argument("--label-column", default="label", metavar="L")
    sub.add_argument(
        "--context-column",
        default=None,
        metavar="C",
        help="column with the post each response answers, for models trained with context "
        "(empty: none); dotted names reach into dict columns, e.g. meta.parent_text",
    )
    sub.add_argument(
        "--label-map",
        nargs="+",
        action="extend",
        type=_assignment,
        default=[],
        metavar="SRC=DST",
        help="map a data label onto a model label (labels the model has map to themselves); "
        "e.g. --label-map agree=support disagree=denial discuss=neutral",
    )
    sub.add_argument(
        "--filter",
        nargs="+",
        action="extend",
        type=_assignment,
        default=[],
        metavar="COL=VALUE",
        help="keep rows whose COL equals VALUE (compared as text; dotted COL reaches into "
        "dict columns; the same COL twice keeps either value), e.g. --filter split=test",
    )
    add_batch_size_option(sub)
    sub.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``eval`` and ``calibrate`` subparsers to ``commands``.

    ``commands`` is what ``parser.add_subparsers(...)`` returned; the subparsers take its
    ``parser_class``. Each sets ``handler`` (``args -> exit code``).

    >>> parser = argparse.ArgumentParser()
    >>> register(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["eval", "t.csv", "--filter", "split=test"]).filter
    ['split=test']
    """
    evaluate = commands.add_parser(
        "eval",
        help="evaluate a model on a labelled file and write a report folder",
        description="Evaluate a model on DATA (a labelled .csv, .jsonl(.gz) or .parquet "
        "file) and write DIR/metrics.json, report.md, confusion_matrix.png, reliability.png "
        "and errors.jsonl. Rows with a missing or empty claim, response or label are "
        "counted and left out of the metrics. Labels the model does not have need "
        "--label-map; macro-F1 is averaged over the labels present in DATA.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_options(evaluate)
    evaluate.add_argument(
        "--report",
        default=None,
        metavar="DIR",
        help="report folder (default: ./eval-<data name>[-<filter values>])",
    )
    evaluate.set_defaults(handler=_cmd_eval)

    calibrate = commands.add_parser(
        "calibrate",
        help="fit temperature scaling on labelled validation data",
        description="Fit the temperature T that minimises the NLL of softmax(logits / T) on "
        "DATA (labelled validation pairs, never test data) and store it in the model "
        "folder's stance_config.json. Prints ECE and NLL before and after. The shipped "
        "default model is not changed in place: pass --output-model DIR for a calibrated "
        "copy.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_options(calibrate)
    calibrate.add_argument(
        "--output-model",
        default=None,
        metavar="DIR",
        help="write a calibrated copy of the model here instead of changing --model in place",
    )
    calibrate.set_defaults(handler=_cmd_calibrate)


def _with_cli_hint(exc: InputDataError) -> InputDataError:
    if "no mapping" in str(exc):
        return InputDataError(f"{exc} (on the command line: --label-map SRC=DST ...)")
    return exc


def default_report_dir(data: str, filters: list[str]) -> Path:
    """``eval-<name>[-<filter values>]`` in the current folder.

    >>> default_report_dir("data/sick/pairs.jsonl", ["split=test"]).name
    'eval-sick-test'
    """
    path = Path(data)
    stem = path.name.split(".")[0]
    name = path.parent.name if stem in ("pairs", "data", "train", "dev", "test") else stem
    parts = [name or "data", *(f.partition("=")[2] for f in filters)]
    safe = "-".join("".join(c if c.isalnum() or c in "._" else "_" for c in p) for p in parts)
    return Path(f"eval-{safe}")


def _cmd_eval(args: argparse.Namespace) -> int:
    from stance.evaluation import check_columns, evaluate, write_report

    check_columns(
        args.data,
        claim_column=args.claim_column,
        response_column=args.response_column,
        label_column=args.label_column,
        filters=args.filter,
        context_column=args.context_column,
    )  # fail fast, before the model loads
    clf = load_classifier(args, batch_size=args.batch_size)
    try:
        result = evaluate(
            clf,
            args.data,
            claim_column=args.claim_column,
            response_column=args.response_column,
            label_column=args.label_column,
            label_map=args.label_map,
            filters=args.filter,
            progress=not args.quiet,
            context_column=args.context_column,
        )
    except InputDataError as exc:
        raise _with_cli_hint(exc) from None
    directory = Path(args.report) if args.report else default_report_dir(args.data, args.filter)
    paths = write_report(result, directory)
    m = result.metrics
    acc_lo, acc_hi = m["accuracy_ci"]
    f1_lo, f1_hi = m["macro_f1_ci"]
    print(f"rows evaluated: {m['n']:,}")
    print(f"accuracy: {m['accuracy']:.4f} (95% CI {acc_lo:.4f}-{acc_hi:.4f})")
    print(
        f"macro-F1 over {', '.join(m['macro_f1_labels'])}: {m['macro_f1']:.4f} "
        f"(95% CI {f1_lo:.4f}-{f1_hi:.4f})"
    )
    if "fnc_score" in m:
        print(
            f"FNC-1 score: {m['fnc_score']:.4f} of max "
            f"({m['fnc_score_raw']:,.2f} / {m['fnc_score_max']:,.2f})"
        )
    if "rumoureval_macro_f1" in m:
        print(f"RumourEval macro-F1: {m['rumoureval_macro_f1']:.4f}")
    print(f"ECE: {m['ece']:.4f}  Brier: {m['brier']:.4f}  NLL: {m['nll']:.4f}")
    print(f"report: {paths['report'].parent}")
    if m.get("macro_f1_note"):
        print(f"note: {m['macro_f1_note']}", file=sys.stderr)
    excluded = m["excluded"]
    if excluded["count"]:
        reasons = ", ".join(f"{r}: {n:,}" for r, n in excluded["reasons"].items())
        print(
            f"{excluded['count']:,} rows were left out of the metrics ({reasons})",
            file=sys.stderr,
        )
    if m.get("truncated"):
        print(truncation_message(m["truncated"], clf.max_length, total=m["n"]), file=sys.stderr)
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from stance.calibration import calibrate

    quiet_transformers()
    try:
        result = calibrate(
            args.data,
            args.model,
            output_model=args.output_model,
            claim_column=args.claim_column,
            response_column=args.response_column,
            label_column=args.label_column,
            label_map=args.label_map,
            filters=args.filter,
            precision=args.precision,
            batch_size=args.batch_size,
            progress=not args.quiet,
            context_column=args.context_column,
        )
    except InputDataError as exc:
        raise _with_cli_hint(exc) from None
    print(f"calibrated on {result.n:,} rows")
    print(f"temperature: {result.previous_temperature:.4g} -> {result.temperature:.4g}")
    print(f"NLL: {result.before['nll']:.4f} -> {result.after['nll']:.4f}")
    print(f"ECE: {result.before['ece']:.4f} -> {result.after['ece']:.4f}")
    print(f"saved: {result.model_dir}")
    if result.excluded:
        reasons = ", ".join(f"{r}: {n:,}" for r, n in result.excluded.items())
        print(f"rows left out (missing or empty values): {reasons}", file=sys.stderr)
    return 0
