"""Training throughput of `stance train` on MiniLM-L6, fp32 against bf16.

    python eval/bench_train_speed.py [--steps 60] [--config configs/default_model.yaml]

Trains the packaged MiniLM-L6 for a fixed number of steps (batch 32) on the default
model's data mix, once per precision, with no evaluation, and prints the Trainer's
pairs/s. Needs ../shared/data. Skips bf16 (and says so) on CPUs without native bf16.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "default_model.yaml"))
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    import os

    import transformers

    from stance.inference import cpu_supports_bf16
    from stance.training import train
    from stance.training_config import TrainConfig

    transformers.utils.logging.set_verbosity_error()
    os.chdir(REPO)
    print("| precision | steps | batch | pairs/s |\n|---|---:|---:|---:|")
    for precision in ("fp32", "bf16"):
        if precision == "bf16" and not cpu_supports_bf16():
            print("| bf16 | - | - | skipped: no native bf16 on this CPU |")
            continue
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig.from_yaml(
                args.config,
                [
                    f"max_steps={args.steps}",
                    f"precision={precision}",
                    "validation={}",
                    "early_stopping_patience=null",
                    f"eval_steps={args.steps * 10}",
                ],
            )
            clf = train(config, output_dir=Path(out), progress=False)
            metrics = clf.config.recorded_metrics("train")
            print(
                f"| {precision} | {args.steps} | {config.batch_size} | "
                f"{metrics['train_samples_per_second']:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
