"""Scoring and training speed on this CPU, side by side with the usual tools.

    python eval/bench_speed.py                       # full run, writes eval/results/bench_speed.md
    python eval/bench_speed.py --n 1000 --short-n 500 --train-steps 0   # quick look

Scoring: the same pairs, with the same weights (the default model saved as a plain
Hugging Face directory) and the same ``max_length``, through

(a) ``transformers.pipeline("text-classification")`` given ``{"text", "text_pair"}``
    dicts, ``batch_size=32``;
(b) sentence-transformers ``CrossEncoder.predict(batch_size=32)``;
(c) ``StanceClassifier.predict_proba`` (fp32 and ``precision="auto"``);
(d) ``stance score`` on a CSV file, in-process (model already loaded) and as a
    command (including start-up and model loading).

Each runner runs in its own subprocess (after a warm-up batch), so its peak RSS is
its own. Pair sets: a mix of ``--n`` pairs drawn from the shared dev splits (short
replies and long evidence: RumourEval replies, Friends-QIA and Circa answers, SNLI,
Perspectrum, COVID-Fact evidence and FNC-1 article bodies) and ``--short-n`` short
replies. Label agreement is against our fp32 run.

Training: pairs/s of ``stance train`` (the default recipe's settings) against a plain
``transformers.Trainer`` with its fp32 defaults (batch 32, dynamic padding, no length
grouping), both from the packaged MiniLM-L6 on the same pairs.

Needs ../shared/data and the ``bench`` extra (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"

#: (dataset, split, share of the mix); the first three are short replies.
MIX = [
    ("rumoureval2019", "dev", 0.20),
    ("friends_qia", "dev", 0.15),
    ("circa", "dev", 0.15),
    ("snli_esnli", "dev", 0.10),
    ("perspectrum", "dev", 0.10),
    ("covidfact", "dev", 0.08),
    ("fnc1", "dev", 0.22),
]
SHORT = [("rumoureval2019", "dev", 0.4), ("friends_qia", "dev", 0.3), ("circa", "dev", 0.3)]
RUNNERS = ["ours_fp32", "ours", "pipeline", "cross_encoder", "score_file", "score_cli"]
RUNNER_NAMES = {
    "pipeline": "(a) transformers pipeline",
    "cross_encoder": "(b) sentence-transformers CrossEncoder",
    "ours_fp32": "(c) StanceClassifier.predict_proba, fp32",
    "ours": "(c) StanceClassifier.predict_proba, auto",
    "score_file": "(d) stance score, in-process",
    "score_cli": "(d) stance score, command incl. start-up",
}


# ------------------------------------------------------------------------ data
def read_split(name: str, split: str) -> pd.DataFrame:
    folder = DATA / name
    path = folder / "pairs.jsonl"
    if not path.exists():
        path = folder / "pairs.jsonl.gz"
    frame = pd.read_json(path, lines=True)
    return frame[frame["split"] == split][["claim", "response", "label"]]


def draw(recipe: list[tuple[str, str, float]], n: int, seed: int) -> pd.DataFrame:
    parts = []
    for name, split, share in recipe:
        frame = read_split(name, split)
        take = min(len(frame), round(n * share))
        parts.append(frame.sample(take, random_state=seed).assign(source=name))
    mix = pd.concat(parts, ignore_index=True)
    return mix.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# --------------------------------------------------------------------- runners
def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: reset at exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(
    runner: str, model_dir: str, pairs_csv: str, out_npy: str, batch_size: int, max_length: int
) -> dict:
    """Score ``pairs_csv`` with one runner; returns timing and writes probabilities."""
    frame = pd.read_csv(pairs_csv, keep_default_na=False)
    claims, responses = frame["claim"].tolist(), frame["response"].tolist()
    pairs = list(zip(claims, responses, strict=True))
    warm = pairs[: batch_size * 2]

    if runner == "pipeline":
        from transformers import pipeline

        pipe = pipeline("text-classification", model=model_dir, device=-1, top_k=None)
        labels = [pipe.model.config.id2label[i] for i in range(pipe.model.config.num_labels)]
        kwargs = dict(batch_size=batch_size, truncation=True, max_length=max_length)

        def score(batch):
            out = pipe([{"text": c, "text_pair": r} for c, r in batch], **kwargs)
            return np.array(
                [[{d["label"]: d["score"] for d in row}[k] for k in labels] for row in out]
            )
    elif runner == "cross_encoder":
        from sentence_transformers import CrossEncoder

        model = CrossEncoder(model_dir, device="cpu", max_length=max_length)

        def score(batch):
            return model.predict(
                batch, batch_size=batch_size, apply_softmax=True, show_progress_bar=False
            )
    elif runner in ("ours", "ours_fp32"):
        from stance import StanceClassifier

        precision = "fp32" if runner == "ours_fp32" else "auto"
        clf = StanceClassifier.load(
            model_dir, precision=precision, batch_size=batch_size, max_length=max_length
        )

        def score(batch):
            return clf.predict_proba(batch)
    elif runner == "score_file":
        from stance import StanceClassifier
        from stance.scoring import score_file

        clf = StanceClassifier.load(model_dir, batch_size=batch_size, max_length=max_length)
        clf.predict_proba(warm)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "scored.csv"
            started = time.perf_counter()
            score_file(pairs_csv, out, clf, progress=False)
            seconds = time.perf_counter() - started
            scored = pd.read_csv(out, keep_default_na=False)
        np.save(out_npy, scored[[f"p_{label}" for label in clf.labels]].to_numpy(float))
        return {"seconds": seconds}
    else:
        raise SystemExit(f"unknown runner {runner!r}; expected one of {RUNNERS}")

    score(warm)
    started = time.perf_counter()
    probabilities = np.asarray(score(pairs), dtype=float)
    seconds = time.perf_counter() - started
    np.save(out_npy, probabilities)
    return {"seconds": seconds}


def run_cli(model_dir: str, pairs_csv: str, out_npy: str, batch_size: int, max_length: int) -> dict:
    """``stance score`` as a command: start-up, model loading, reading and writing included."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scored.csv"
        hwm = Path(tmp) / "peak_kb"
        # the CLI's main, plus a note of the process's peak memory as it exits
        driver = (
            "import atexit, sys; from pathlib import Path; "
            "atexit.register(lambda: Path(sys.argv[1]).write_text(next(l.split()[1] for l in "
            "Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM:')))); "
            "from stance.cli import main; sys.exit(main(sys.argv[2:]))"
        )
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                driver,
                str(hwm),
                "score",
                pairs_csv,
                "-o",
                str(out),
                "--model",
                model_dir,
                "--batch-size",
                str(batch_size),
                "--max-length",
                str(max_length),
                "--quiet",
            ],
            check=True,
        )
        seconds = time.perf_counter() - started
        peak = int(hwm.read_text()) / 1024
        scored = pd.read_csv(out, keep_default_na=False)
    labels = [c[2:] for c in scored.columns if c.startswith("p_")]
    np.save(out_npy, scored[[f"p_{label}" for label in labels]].to_numpy(float))
    return {"seconds": seconds, "peak_rss_mb": peak}


def measure(
    runner: str, model_dir: str, pairs_csv: str, batch_size: int, max_length: int, workdir: Path
) -> tuple[dict, np.ndarray]:
    out_npy = workdir / f"{runner}-{Path(pairs_csv).stem}.npy"
    if runner == "score_cli":
        result = run_cli(model_dir, pairs_csv, str(out_npy), batch_size, max_length)
    else:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                runner,
                "--model-dir",
                model_dir,
                "--pairs",
                pairs_csv,
                "--out-npy",
                str(out_npy),
                "--batch-size",
                str(batch_size),
                "--max-length",
                str(max_length),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            raise SystemExit(f"runner {runner} failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, np.load(out_npy)


# ------------------------------------------------------------------- training
def train_pairs(n: int, seed: int) -> pd.DataFrame:
    """``n`` pairs from the default model's training mix (the first sources' train splits)."""
    recipe = [
        ("conjnli", "train", 0.2),
        ("cad_nli", "train", 0.2),
        ("arc", "train", 0.2),
        ("perspectrum", "train", 0.2),
        ("rumoureval2019", "train", 0.1),
        ("friends_qia", "train", 0.1),
    ]
    return draw(recipe, n, seed)


def bench_training(steps: int, batch_size: int, max_length: int, seed: int) -> list[dict]:
    import transformers
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from stance.inference import cpu_supports_bf16
    from stance.labels import DEFAULT_LABELS
    from stance.modeldir import BASE_MODEL_PACKAGE, resolve_base_model
    from stance.training import train
    from stance.training_config import TrainConfig

    transformers.utils.logging.set_verbosity_error()
    frame = train_pairs(steps * batch_size, seed)
    base = resolve_base_model(BASE_MODEL_PACKAGE)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.csv"
        frame[["claim", "response", "label"]].to_csv(data, index=False)

        # plain Trainer, fp32 defaults
        tokenizer = AutoTokenizer.from_pretrained(base)
        id2label = dict(enumerate(DEFAULT_LABELS))
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(DEFAULT_LABELS),
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
        )
        label_ids = {v: k for k, v in id2label.items()}
        dataset = Dataset.from_pandas(frame[["claim", "response", "label"]].reset_index(drop=True))
        dataset = dataset.map(
            lambda b: {
                **tokenizer(b["claim"], b["response"], truncation=True, max_length=max_length),
                "labels": [label_ids[x] for x in b["label"]],
            },
            batched=True,
            remove_columns=["claim", "response", "label"],
        )
        args = TrainingArguments(
            output_dir=str(Path(tmp) / "hf"),
            per_device_train_batch_size=batch_size,
            max_steps=steps,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            seed=seed,
            use_cpu=True,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=dataset,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        metrics = trainer.train().metrics
        rows.append(
            {
                "trainer": "plain transformers.Trainer, fp32 defaults",
                "pairs_per_s": metrics["train_samples_per_second"],
            }
        )

        for precision in ("fp32", "bf16"):
            if precision == "bf16" and not cpu_supports_bf16():
                continue
            config = TrainConfig.from_yaml(
                REPO / "configs" / "default_model.yaml",
                [
                    f"max_steps={steps}",
                    f"precision={precision}",
                    "validation={}",
                    "early_stopping_patience=null",
                    f"eval_steps={steps * 10}",
                    f"batch_size={batch_size}",
                    f"max_length={max_length}",
                    f"sources=[{{name: bench, path: '{data}'}}]",
                    f"seed={seed}",
                ],
            )
            clf = train(config, output_dir=Path(tmp) / precision, progress=False)
            metrics = clf.config.recorded_metrics("train")
            rows.append(
                {
                    "trainer": f"stance train, {precision}",
                    "pairs_per_s": metrics["train_samples_per_second"],
                }
            )
    return rows


# ----------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="pairs in the mixed set")
    parser.add_argument("--short-n", type=int, default=2000, help="pairs in the short set")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokens per pair for every runner (default: the model's)",
    )
    parser.add_argument("--model", default=None, help="model to bench (default: shipped)")
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument(
        "--train-steps",
        type=int,
        default=40,
        help="training steps per trainer (0 skips the training bench)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "eval" / "results" / "bench_speed"))
    # worker mode (internal)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", help=argparse.SUPPRESS)
    parser.add_argument("--out-npy", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        import transformers

        transformers.utils.logging.set_verbosity_error()
        result = run_worker(
            args.worker, args.model_dir, args.pairs, args.out_npy, args.batch_size, args.max_length
        )
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return 0

    if not DATA.is_dir():
        raise SystemExit(f"needs the shared data at {DATA}")
    import torch

    from stance import StanceClassifier
    from stance.inference import cpu_supports_bf16

    runners = [r for r in args.runners.split(",") if r]
    if "ours_fp32" not in runners:
        runners.insert(0, "ours_fp32")  # the reference for label agreement
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "native_bf16": cpu_supports_bf16(),
            "torch": torch.__version__,
        },
        "sets": {},
        "training": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clf = StanceClassifier.load(args.model)
        max_length = args.max_length or clf.max_length
        model_dir = str(clf.save(workdir / "model"))
        results.update(
            batch_size=args.batch_size,
            max_length=max_length,
            model=str(clf.info.get("source", args.model or "default")),
        )
        sets = {"mix": draw(MIX, args.n, args.seed), "short": draw(SHORT, args.short_n, args.seed)}
        for set_name, frame in sets.items():
            pairs_csv = workdir / f"{set_name}.csv"
            frame[["claim", "response"]].to_csv(pairs_csv, index=False)
            lengths = clf.tokenizer(frame["claim"].tolist(), frame["response"].tolist())[
                "input_ids"
            ]
            tokens = np.array([len(x) for x in lengths])
            rows = {}
            reference = None
            for runner in runners:
                print(f"[{set_name}] {runner} ...", file=sys.stderr, flush=True)
                result, probs = measure(
                    runner, model_dir, str(pairs_csv), args.batch_size, max_length, workdir
                )
                result["pairs_per_s"] = len(frame) / result["seconds"]
                if reference is None:
                    reference = probs
                result["label_agreement_fp32"] = float(
                    (probs.argmax(1) == reference.argmax(1)).mean()
                )
                result["max_abs_prob_diff_fp32"] = float(np.abs(probs - reference).max())
                rows[runner] = result
                print(f"    {result['pairs_per_s']:.1f} pairs/s", file=sys.stderr, flush=True)
            results["sets"][set_name] = {
                "pairs": len(frame),
                "tokens_median": int(np.median(tokens)),
                "tokens_p90": int(np.percentile(tokens, 90)),
                "over_max_length": float((tokens > max_length).mean()),
                "runners": rows,
            }
    write_report(results, Path(args.out), " ".join(sys.argv[1:]))  # kept if training fails
    if args.train_steps:
        results["training"] = bench_training(
            args.train_steps, args.batch_size, args.max_length or 128, args.seed
        )
    write_report(results, Path(args.out), " ".join(sys.argv[1:]))
    return 0


def write_report(results: dict, out: Path, argv: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Scoring and training speed",
        "",
        f"`python eval/bench_speed.py {argv}`".replace(" `", "`"),
        "",
        f"Machine: {results['machine']['cpus']} CPUs, torch {results['machine']['torch']} "
        f"({results['machine']['torch_threads']} threads), native bf16: "
        f"{results['machine']['native_bf16']} (so `auto` runs in "
        f"{'bf16' if results['machine']['native_bf16'] else 'fp32'}). "
        f"Batch size {results['batch_size']}, "
        f"max_length {results['max_length']} for every runner.",
        "",
    ]
    for set_name, block in results["sets"].items():
        runners = block["runners"]
        lines += [
            f"## {set_name}: {block['pairs']:,} pairs (median {block['tokens_median']} tokens, "
            f"p90 {block['tokens_p90']}, {block['over_max_length']:.0%} over max_length)",
            "",
            "| runner | pairs/s | x pipeline | x CrossEncoder | peak RSS MB | labels = fp32 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        base_pipe = runners.get("pipeline", {}).get("pairs_per_s")
        base_ce = runners.get("cross_encoder", {}).get("pairs_per_s")
        for name, row in runners.items():
            pipe = f"{row['pairs_per_s'] / base_pipe:.1f}" if base_pipe else "-"
            ce = f"{row['pairs_per_s'] / base_ce:.1f}" if base_ce else "-"
            lines.append(
                f"| {RUNNER_NAMES[name]} | {row['pairs_per_s']:.1f} | {pipe} | {ce} | "
                f"{row['peak_rss_mb']:.0f} | {row['label_agreement_fp32']:.4f} |"
            )
        lines.append("")
    if results["training"]:
        base = results["training"][0]["pairs_per_s"]
        lines += ["## Training", "", "| trainer | pairs/s | x plain Trainer |", "|---|---:|---:|"]
        for row in results["training"]:
            lines.append(
                f"| {row['trainer']} | {row['pairs_per_s']:.1f} | {row['pairs_per_s'] / base:.2f} |"
            )
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
