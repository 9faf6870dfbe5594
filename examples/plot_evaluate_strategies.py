"""Tables 2-3 at CPU scale: train a small DnCNN with each sampling strategy and compare their
robustness to white-box Denoising-PGD on the built-in test images.

About 3 minutes on two CPU cores with the defaults (three strategies, 300 steps each). At this
scale the seed-to-seed spread is ~0.5 dB, larger than the paper's effects: use more steps and
several seeds (``--seeds 0 1 2``) before reading anything into small differences.

Run: ``python examples/evaluate_strategies.py [--steps 300] [--strategies normal ts-def ...]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

from denoise_adv.analysis import evaluate_robustness, summarize
from denoise_adv.models import as_denoiser, load_checkpoint
from denoise_adv.report import format_table, write_csv, write_markdown
from denoise_adv.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=["normal", "ts-pres", "ts-def"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--ts-iterations", type=float, default=10,
                        help="TS T for the ts-* strategies (4406 covers L-inf 2/255 on 40x40)")
    parser.add_argument("--out", default="examples_out/evaluate_strategies")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    out = Path(args.out)
    table = []
    for strategy in args.strategies:
        for seed in args.seeds:
            run = out / f"{strategy}-T{args.ts_iterations:g}-seed{seed}"
            train(TrainConfig(out=str(run), strategy=strategy, seed=seed, max_steps=args.steps,
                              ts_iterations=args.ts_iterations,
                              batch_size=32, lr=2e-3, val_data=None,
                              model_kwargs={"depth": 6, "features": 24},
                              progress=not args.quiet), overwrite=True)
            model, _ = load_checkpoint(run / "model.pt")
            rows = evaluate_robustness(as_denoiser(model, 25 / 255), "builtin:test",
                                       progress=not args.quiet)
            label = strategy if not strategy.startswith("ts") else (
                f"{strategy} T={args.ts_iterations:g}")
            table += [{"strategy": label, "seed": seed, **r} for r in summarize(rows)]
    write_csv(table, out / "summary.csv")
    write_markdown(table, out / "summary.md", title="Strategies vs Denoising-PGD (sigma 25)")
    print(format_table(table))
    print(f"wrote summary.csv and summary.md to {out.resolve()}")


if __name__ == "__main__":
    main()
