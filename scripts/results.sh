#!/bin/bash
# The default comparison and the sweeps of docs/results.md (Figs. 8-13, 15, 17) on the paper-scale CNN repository.
# Usage: scripts/results.sh OUTDIR   (about 10 minutes on 2 cores, release build)
set -euo pipefail
out=${1:?usage: scripts/results.sh OUTDIR}
P=${PBREPO:-.build/release/pbrepo}
M=manifests/paper-cnn60.json
mkdir -p "$out"
for s in coarse trimcaching no-cooperation tdma-unicast full-comp hybrid heuristic; do
  for seed in 1 2 3 4 5; do "$P" simulate --manifest $M --scheme $s --seed $seed --json > "$out/sim-$s-$seed.json"; done
done
S=coarse,trimcaching,no-cooperation,tdma-unicast,heuristic
"$P" sweep --manifest $M --vary capacity=1e8,2.5e8,5e8,7.5e8,1.25e9 --schemes $S --seeds 3 -o "$out/capacity"
"$P" sweep --manifest $M --vary users=18,24,30,36,42,48 --schemes $S --seeds 3 -o "$out/users"
"$P" sweep --manifest $M --vary nodes=4,5,6,7,8 --schemes $S --seeds 3 -o "$out/nodes"
"$P" sweep --manifest $M --vary antennas=10,20,30,40,60 --schemes $S --seeds 3 -o "$out/antennas"
"$P" sweep --manifest $M --vary zipf=0.2,0.5,0.8,1.1,1.4 --schemes $S --seeds 3 -o "$out/zipf"
"$P" sweep --manifest $M --vary reuse=0,0.25,0.5,0.75,1 --schemes $S --seeds 3 -o "$out/reuse"
"$P" sweep --manifest $M --vary antennas=10,20,40,60 --schemes full-comp,hybrid --seeds 3 -o "$out/hybrid"
echo '{"qos_bps": [1e9, 2e9]}' > "$out/lowqos.json"
"$P" robustness --manifest $M --eps 1e-5,2e-5,4e-5 --blocks 20 --draws 200 -o "$out/robustness-default"
"$P" robustness --manifest $M --scenario "$out/lowqos.json" --eps 1e-5,2e-5,4e-5 --blocks 20 --draws 200 -o "$out/robustness-lowqos"
