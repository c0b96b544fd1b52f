"""Pieces the ``stance`` subcommands share: option types, model options, model loading."""

from __future__ import annotations

import argparse

from stance.defaults import DEFAULT_BATCH_SIZE
from stance.model_config import PAIR_ORDERS

EPILOG = """exit codes: 0 ok, 1 internal error (a bug), 2 bad option or config,
3 input data problem, 4 model problem, 5 output problem, 130 interrupted"""


def positive_int(text: str) -> int:
    """argparse type for options such as ``--batch-size``.

    >>> positive_int("8")
    8
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_model_options(sub: argparse.ArgumentParser) -> None:
    """Add ``--model``, ``--precision``, ``--max-length``, ``--model-label-map`` and
    ``--pair-order`` to a subcommand."""
    sub.add_argument(
        "--model",
        "-m",
        default=None,
        metavar="M",
        help="a model directory, a hub id, or a shipped model: default (the default) or large",
    )
    sub.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="compute precision; auto uses bf16 where the CPU/GPU supports it (default)",
    )
    sub.add_argument(
        "--max-length",
        type=positive_int,
        default=None,
        metavar="N",
        help="tokens per pair; longer responses are cut (default: the model's own setting)",
    )
    sub.add_argument(
        "--model-label-map",
        default=None,
        metavar="NAME=LABEL,...",
        help="the model's label names mapped to stance labels, e.g. "
        "entailment=support,contradiction=denial,neutral=neutral (default: NLI names are "
        "recognised; a stance model needs none)",
    )
    sub.add_argument(
        "--pair-order",
        choices=PAIR_ORDERS,
        default=None,
        help="which text goes first into the model: claim_first (stance models) or "
        "response_first (NLI models: premise, hypothesis); default: the model's own",
    )


def add_batch_size_option(sub: argparse.ArgumentParser) -> None:
    """Add ``--batch-size`` (pairs per forward pass) to a subcommand that scores many pairs."""
    sub.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="pairs per forward pass",
    )


def quiet_transformers() -> None:
    """Keep the CLI's stderr for our own messages (transformers' bars and load reports off)."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def load_classifier(args: argparse.Namespace, batch_size: int = DEFAULT_BATCH_SIZE):
    """Load the classifier named by ``--model`` / ``--precision``."""
    from stance.label_mapping import parse_label_map
    from stance.model import StanceClassifier

    quiet_transformers()
    return StanceClassifier.load(
        args.model,
        precision=args.precision,
        batch_size=batch_size,
        max_length=getattr(args, "max_length", None),
        label_map=parse_label_map(getattr(args, "model_label_map", None)) or None,
        pair_order=getattr(args, "pair_order", None),
    )
