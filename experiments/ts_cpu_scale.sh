#!/usr/bin/env bash
# TS at CPU scale: normal vs TS-Def. (T=10 and T=4406, which covers an L-inf 2/255 budget on
# 40x40 patches), 3 seeds each, 800 steps of a 6-layer 24-feature DnCNN; white-box evaluation,
# then the fixed-set (transfer) protocol with sets crafted on an independent normal model.
# About 25 minutes on 2 CPU cores. Its first run found TS-Def. changing the drop by 0.01-0.03 dB,
# inside the seed spread (reported in the issue tracker, "Is TS a defence?").
set -euo pipefail
out="${1:-runs/ts_cpu_scale}"
python examples/evaluate_strategies.py --strategies normal ts-def --seeds 0 1 2 --steps 800 \
    --quiet --out "$out/t10"
python examples/evaluate_strategies.py --strategies ts-def --ts-iterations 4406 \
    --seeds 0 1 2 --steps 800 --quiet --out "$out/t4406"
# The source of the fixed sets must share no seed with the models it scores: seed 9.
denoise-adv train --out "$out/source-normal-seed9" --depth 6 --features 24 --steps 800 \
    --batch-size 32 --lr 2e-3 --seed 9 --val-data none --quiet
for norm in linf l2; do
    denoise-adv make-adv --model "$out/source-normal-seed9/model.pt" --norm "$norm" \
        --out "$out/set-$norm.pt" --quiet
done
denoise-adv evaluate --model "$out"/t10/*/model.pt "$out"/t4406/*/model.pt --attacks none \
    --adv-set "$out/set-linf.pt" "$out/set-l2.pt" --out "$out/fixed" --quiet
