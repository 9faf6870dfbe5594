#!/usr/bin/env bash
# Train the shipped model zoo (sigma 25, gray): one architecture, one data set, one seed stream.
#
# Stage 1: a `normal` DnCNN (10 layers, 32 features, BatchNorm) trained from scratch on
#          builtin:train, 9000 Adam steps of 64 40x40 patches at lr 1e-3 (its milestone,
#          epoch 9 = step 9405, is never reached: the branches below are the decay).
# Stage 2: five 1000-step branches from the stage-1 weights at lr 1e-4, identical patches
#          (seed 1), each with its strategy's noise: normal (the control: the same extra steps
#          on Gaussian noise), ts-def, ts-pres, mixed-26, adversarial (L-inf PGD, 3 steps,
#          eps 2/255, the positive control of the TS study).
# Every zoo model therefore saw the same 10000 steps of data; they differ only in the noise of
# the last 1000. Resumable: rerun the script after an interruption (finished stages are kept,
# unfinished ones continue from their last checkpoint). bf16 autocast + channels_last.
# Then `python tools/export_zoo.py` writes the weights and manifest into the package.
set -euo pipefail
out="${1:-runs/zoo}"
common=(--model dncnn --depth 10 --features 32 --sigma 25 --data builtin:train
        --batch-size 64 --amp bf16 --channels-last --checkpoint-every 250 --quiet)

run() {  # run NAME ARGS...: train into $out/NAME unless it is finished; resume if started
  local name=$1; shift
  if [ -f "$out/$name/model.pt" ]; then echo "$name: done"; return; fi
  local resume=()
  [ -f "$out/$name/checkpoint.pt" ] && resume=(--resume)
  echo "$name: training ($(date -u +%H:%M:%S))"
  denoise-adv train --out "$out/$name" "${common[@]}" "$@" "${resume[@]}"
}

run base --strategy normal --steps 9000 --lr 1e-3 --milestones 9 --seed 0
branch=(--init "$out/base/model.pt" --steps 1000 --lr 1e-4 --milestones 1000 --seed 1)
run normal --strategy normal "${branch[@]}"
run ts-def --strategy ts-def "${branch[@]}"
run ts-pres --strategy ts-pres "${branch[@]}"
run mixed-26 --strategy mixed-26 "${branch[@]}"
run adversarial --strategy adversarial --adv-norm linf --adv-eps 2 --adv-alpha 1 \
    --adv-steps 3 "${branch[@]}"
echo "zoo trained ($(date -u +%H:%M:%S))"
