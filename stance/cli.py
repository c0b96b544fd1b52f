"""The ``stance`` command line: a thin layer over the library.

Exit codes (see ``stance.errors``): 0 success, 1 internal error, 2 bad option or
config, 3 input data problem, 4 model problem, 5 output problem, 130 interrupted.
User errors print ``error: ...`` with the fix, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stance._version import __version__
from stance.cli_common import (
    EPILOG,
    add_batch_size_option,
    add_model_options,
    load_classifier,
    quiet_transformers,
)
from stance.errors import StanceError
from stance.progress import truncation_message

if TYPE_CHECKING:
    from stance.scoring import ScoreSummary

EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors exit 2 too
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stance",
        description="Does a response support, deny or stay neutral towards a claim?",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"claimstance {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    predict = commands.add_parser("predict", help="label one claim/response pair", epilog=EPILOG)
    predict.add_argument("claim")
    predict.add_argument("response")
    predict.add_argument(
        "--context",
        default=None,
        metavar="TEXT",
        help="the post the response answers (for models trained with context)",
    )
    add_model_options(predict)
    predict.add_argument("--json", action="store_true", help="print one JSON object")
    predict.set_defaults(handler=_cmd_predict)

    score = commands.add_parser(
        "score",
        help="score a CSV, JSONL(.gz) or Parquet file of pairs",
        description="Score every row of INPUT and write OUTPUT (format chosen by extension: "
        ".csv, .csv.gz, .jsonl, .jsonl.gz, .ndjson, .parquet). The output keeps every input "
        "column and row order and adds label, p_<label> per label, and error. "
        "--context-column names the post each response answers, for models trained with "
        "context (dotted names reach into dict columns: meta.parent_text).",
        epilog=EPILOG,
    )
    score.add_argument("input", metavar="INPUT")
    score.add_argument("-o", "--output", required=True, metavar="OUTPUT")
    add_model_options(score)
    score.add_argument("--claim-column", default="claim", metavar="C")
    score.add_argument("--response-column", default="response", metavar="R")
    score.add_argument(
        "--context-column",
        default=None,
        metavar="C",
        help="column with the post each response answers (empty: none); dotted names "
        "reach into dict columns, e.g. meta.parent_text",
    )
    add_batch_size_option(score)
    score.add_argument("--prefix", default="", help="prefix for the added column names")
    score.add_argument(
        "--resume", action="store_true", help="continue an interrupted run into the same OUTPUT"
    )
    score.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    score.add_argument(
        "--documents",
        action="store_true",
        help="the response column holds whole documents: score sentences and windows, "
        "aggregate to a document label, add evidence_<label>[_score|_start|_end] columns",
    )
    score.add_argument(
        "--aggregation",
        default=None,
        metavar="A",
        help="with --documents: max (default: a window, or a sentence of a window leaning "
        "to a stance, at 0.5 decides), max-sentences, max-windows or mean (see stance.documents)",
    )
    score.set_defaults(handler=_cmd_score)

    train = commands.add_parser(
        "train",
        help="train a model from a YAML config (see configs/)",
        description="Train a model as CONFIG says. key=value arguments override config keys "
        "(dotted keys reach in: lora.r=8, sources.0.max_rows=100). Runs data-parallel under "
        "torchrun --nproc_per_node=N -m stance train CONFIG.",
        epilog=EPILOG,
    )
    train.add_argument("config", metavar="CONFIG")
    train.add_argument("overrides", nargs="*", metavar="key=value")
    train.add_argument("--output", "-o", default=None, metavar="DIR", help="model directory")
    train.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in DIR"
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    train.set_defaults(handler=_cmd_train)

    from stance.cli_eval import register

    register(commands)  # stance eval, stance calibrate
    return parser


def _cmd_predict(args: argparse.Namespace) -> int:
    from stance.columns import coerce_rows
    from stance.model import context_for_model, warn_truncated

    clf = load_classifier(args)
    texts = (args.claim, args.response)
    if args.context is not None:
        texts = (args.claim, args.response, args.context)
    claims, responses, contexts = coerce_rows([texts])
    if not context_for_model(clf, given=args.context is not None, stacklevel=1):
        contexts = None
    probabilities, truncated = clf.runtime.probabilities(
        claims, responses, contexts, temperature=clf.temperature
    )
    row = probabilities[0]
    label = clf.labels[int(row.argmax())]
    if args.json:
        print(
            json.dumps(
                {
                    "label": label,
                    "probabilities": {
                        lab: round(float(p), 6) for lab, p in zip(clf.labels, row, strict=True)
                    },
                    "truncated": bool(truncated[0]),
                },
                ensure_ascii=False,
            )
        )
    else:
        print(label)
        width = max(len(lab) for lab in clf.labels)
        for lab, p in zip(clf.labels, row, strict=True):
            print(f"  {lab:<{width}}  {p:.3f}")
    fix = "Pass a larger --max-length if the cut text matters."
    warn_truncated(int(truncated[0]), 1, clf.max_length, fix=fix, stacklevel=1)
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from stance.scoring import check_context_option, check_paths, score_file

    check_context_option(args.documents, args.context_column)  # fail fast, before the
    check_paths(args.input, args.output)  # model loads
    if args.aggregation is not None:
        from stance.documents import resolve_aggregation
        from stance.errors import ConfigError

        if not args.documents:
            raise ConfigError("--aggregation applies to --documents only; add --documents")
        resolve_aggregation(args.aggregation)
    clf = load_classifier(args, batch_size=args.batch_size)
    summary = score_file(
        args.input,
        args.output,
        clf,
        claim_column=args.claim_column,
        response_column=args.response_column,
        prefix=args.prefix,
        resume=args.resume,
        progress=not args.quiet,
        documents=args.documents,
        aggregation=args.aggregation,
        context_column=args.context_column,
    )
    print(summary_line(summary), file=sys.stderr)
    if summary.error_rows:
        reasons = ", ".join(f"{r}: {n:,}" for r, n in sorted(summary.errors_by_reason.items()))
        print(
            f"{summary.error_rows:,} rows could not be scored and have an error value, no "
            f"label ({reasons})",
            file=sys.stderr,
        )
    if summary.truncated:
        print(truncation_message(summary.truncated, clf.max_length), file=sys.stderr)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from stance.training import train

    quiet_transformers()
    clf = train(
        args.config,
        output_dir=args.output,
        overrides=args.overrides,
        resume=args.resume,
        progress=not args.quiet,
    )
    metrics = clf.config.recorded_metrics("validation")
    shown = ", ".join(
        f"{k.removeprefix('eval_')} {v:.4f}"
        for k, v in metrics.items()
        if k in ("eval_accuracy", "eval_macro_f1")
    )
    print(f"saved {clf.source}" + (f" (validation {shown})" if shown else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (``stance`` calls ``sys.exit`` with it)."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    # key=value overrides may come after options (argparse stops a nargs="*" positional there)
    if extras and getattr(args, "command", None) == "train":
        overrides = [e for e in extras if "=" in e and not e.startswith("-")]
        args.overrides = [*args.overrides, *overrides]
        extras = [e for e in extras if e not in overrides]
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    try:
        return args.handler(args)
    except StanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        hint = (
            " Rerun with --resume to continue." if getattr(args, "command", "") == "score" else ""
        )
        print(f"interrupted.{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


def summary_line(summary: ScoreSummary) -> str:
    """The line ``stance score`` ends with (rows, time, rate)."""
    new_rows = summary.rows - summary.resumed_rows
    resumed = f" ({summary.resumed_rows:,} done before resuming)" if summary.resumed_rows else ""
    rate = summary.rows_per_second
    rate_text = f"{rate:,.0f}" if rate >= 10 else f"{rate:.2f}"
    return (
        f"scored {_count(summary.rows, 'row')}{resumed} -> {summary.output} "
        f"({_count(new_rows, 'row')} in {summary.seconds:.1f} s, {rate_text} rows/s)"
    )


def _count(n: int, noun: str) -> str:
    """``1 row``, ``2,048 rows``.

    >>> _count(1, "row"), _count(2048, "row")
    ('1 row', '2,048 rows')
    """
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(main())
