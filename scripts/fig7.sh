#!/bin/bash
# Fig. 7: learning curves of MAASN-DA and its ablations, 3 seeds each, on the paper-scale CNN repository, two runs
# at a time. Usage: scripts/fig7.sh OUTDIR [EPISODES] [TRAINING-CONFIG] [SCENARIO]
# (the paper's settings without a config; docs/results.md also uses docs/examples/training-fig8.json with
# docs/examples/scenario-reachable-qos.json)
set -euo pipefail
out=${1:?usage: scripts/fig7.sh OUTDIR [EPISODES] [TRAINING-CONFIG] [SCENARIO]}
episodes=${2:-600}
P=${PBREPO:-.build/release/pbrepo}
args=(--manifest manifests/paper-cnn60.json --episodes "$episodes")
if [ -n "${3:-}" ]; then args+=(--config "$3"); fi
if [ -n "${4:-}" ]; then args+=(--scenario "$4"); fi
mkdir -p "$out"
for v in maasn-da qmix-da no-as no-vd no-da rnn-da non-optimal; do
  for s in 1 2 3; do
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
    "$P" train "${args[@]}" --variant "$v" --seed "$s" -o "$out/$v-$s" --json > "$out/$v-$s.json" 2> "$out/$v-$s.log" &
  done
done
wait
"$P" plot "$out"/*-[0-9] -o "$out/fig7.svg"
