"""Other ways to run the same model on this CPU: do any beat our fp32 PyTorch path?

    python eval/bench_backends.py                 # 2,000 pairs of bench_speed's mix
    python eval/bench_backends.py --n 500         # quick look

Issue #6 asks to consider an ONNX Runtime or int8 path and to keep it only if it wins.
Every backend scores the same pairs, tokenized once by our :class:`PairTokenizer`, in
the same length-sorted batches; only the forward pass differs. Reports pairs/s (model
time only), the speed-up over our PyTorch fp32 run, and the share of labels equal to it
(the issue's bar: 99.5%). Backends:

- PyTorch fp32 at batch sizes 16, 32 (ours) and 64, and with eager attention;
- ``torch.compile`` (inductor, dynamic shapes), compile time excluded;
- PyTorch dynamic int8 (``torch.ao.quantization.quantize_dynamic`` on every
  ``nn.Linear``, per-tensor and per-channel weight scales);
- ONNX Runtime fp32 (exported with eager attention), plain and after
  ``onnxruntime.transformers`` BERT fusion (fused attention, GELU, skip layer norm).

Needs ../shared/data, the ``bench`` extra and ``pip install onnxruntime onnx``.
Writes ``eval/results/bench_backends.md``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from bench_speed import MIX, draw

from stance import StanceClassifier
from stance.inference import EncodedPairs, pad_batch, run_sorted_batches

REPO = Path(__file__).resolve().parent.parent
Forward = Callable[[dict[str, torch.Tensor]], np.ndarray]


def torch_forward(model: torch.nn.Module) -> Forward:
    def forward(batch: dict[str, torch.Tensor]) -> np.ndarray:
        with torch.inference_mode():
            return model(**batch).logits.float().numpy()

    return forward


def compiled(model: torch.nn.Module) -> torch.nn.Module:
    return torch.compile(model, dynamic=True)


def int8_model(model: torch.nn.Module, per_channel: bool) -> torch.nn.Module:
    from torch.ao.quantization import per_channel_dynamic_qconfig

    spec = {torch.nn.Linear: per_channel_dynamic_qconfig} if per_channel else {torch.nn.Linear}
    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), spec, dtype=torch.qint8)


def onnx_forward(model: torch.nn.Module, example: dict, folder: Path, fused: bool) -> Forward:
    import onnxruntime as ort

    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")  # SDPA does not export to fusable attention
    path = folder / "model.onnx"
    if not path.exists():
        torch.onnx.export(
            eager,
            (),
            str(path),
            kwargs=dict(example),
            input_names=list(example),
            output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in example}
            | {"logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    if fused:
        from onnxruntime.transformers import optimizer

        config = model.config
        optimized = optimizer.optimize_model(
            str(path),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
        )
        path = folder / "model_fused.onnx"
        optimized.save_model_to_file(str(path))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(batch: dict[str, torch.Tensor]) -> np.ndarray:
        return session.run(None, {k: v.numpy() for k, v in batch.items()})[0]

    return forward


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="pairs drawn from the mix")
    parser.add_argument("--model", default=None, help="model to bench (default: shipped)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "eval" / "results" / "bench_backends.md"))
    args = parser.parse_args()
    missing = [m for m in ("onnxruntime", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(
            f"eval/bench_backends.py needs {' and '.join(missing)} for its ONNX rows; "
            f"install with: pip install {' '.join(missing)}"
        )

    pairs = draw(MIX, args.n, args.seed)
    clf = StanceClassifier.load(
        args.model, precision="fp32", max_length=args.max_length, device="cpu"
    )
    runtime = clf.runtime  # fp32 on the CPU: clf.model itself, in eval mode
    model, tokenizer = runtime.model, runtime.pair_tokenizer
    encoded = tokenizer.encode(list(pairs["claim"]), list(pairs["response"]))
    pad_id, types = runtime.pad_id, runtime.with_token_types  # as predict_proba pads
    width = model.config.num_labels
    example = pad_batch(encoded, list(range(4)), pad_id, with_token_types=types)

    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    workdir = Path(tempfile.mkdtemp(prefix="stance-backends-"))
    backends: list[tuple[str, Callable[[], Forward], int]] = [
        ("PyTorch fp32, batch 32 (ours)", lambda: torch_forward(model), 32),
        ("PyTorch fp32, batch 16", lambda: torch_forward(model), 16),
        ("PyTorch fp32, batch 64", lambda: torch_forward(model), 64),
        ("PyTorch fp32, eager attention", lambda: torch_forward(eager), 32),
        (
            "torch.compile (inductor, dynamic)",
            lambda: torch_forward(torch.compile(model, dynamic=True)),
            32,
        ),
        ("PyTorch dynamic int8, per-tensor", lambda: torch_forward(int8_model(model, False)), 32),
        ("PyTorch dynamic int8, per-channel", lambda: torch_forward(int8_model(model, True)), 32),
        ("ONNX Runtime fp32", lambda: onnx_forward(model, example, workdir, False), 32),
        ("ONNX Runtime fp32, BERT fusion", lambda: onnx_forward(model, example, workdir, True), 32),
    ]
    warm = EncodedPairs(encoded.input_ids[:64], encoded.token_type_ids[:64], encoded.truncated[:64])
    rows, reference, base_rate = [], None, None
    for name, build, batch_size in backends:
        forward = build()
        run_sorted_batches(forward, warm, batch_size, pad_id, types, width)  # warm-up, compile
        started = time.perf_counter()
        logits = run_sorted_batches(forward, encoded, batch_size, pad_id, types, width)
        rate = len(encoded) / (time.perf_counter() - started)
        labels = logits.argmax(axis=1)
        if reference is None:
            reference, base_rate = labels, rate
        agree = float((labels == reference).mean())
        rows.append((name, rate, rate / base_rate, agree))
        print(f"{name}: {rate:.1f} pairs/s, x{rate / base_rate:.2f}, labels = fp32 {agree:.4f}")

    lengths = np.array([len(ids) for ids in encoded.input_ids])
    lines = [
        "# Other backends for the same model",
        "",
        f"`python eval/bench_backends.py --n {args.n}` (torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, max_length {args.max_length}). "
        f"{len(encoded):,} pairs of bench_speed's mix (median {int(np.median(lengths))} tokens), "
        "tokenized once; model time only.",
        "",
        "| backend | pairs/s | x ours | labels = ours (fp32) |",
        "|---|---:|---:|---:|",
        *(f"| {n} | {r:.1f} | {x:.2f} | {a:.4f} |" for n, r, x, a in rows),
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
