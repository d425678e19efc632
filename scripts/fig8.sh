#!/bin/bash
# Fig. 8 with the learners: total delay vs storage capacity for MAASN-DA, QMIX-DA and the baselines, on the
# paper-scale CNN repository with QoS the channel model can reach (docs/results.md says why), 3 seeds per point.
# Every learner trains on every (capacity, seed) network before it plans. About 20 minutes on 2 cores.
# Usage: scripts/fig8.sh OUTDIR [EPISODES]
set -euo pipefail
out=${1:?usage: scripts/fig8.sh OUTDIR [EPISODES]}
episodes=${2:-300}
P=${PBREPO:-.build/release/pbrepo}
"$P" sweep --manifest manifests/paper-cnn60.json --scenario docs/examples/scenario-reachable-qos.json \
  --vary capacity=2.5e8,5e8,1.25e9 --schemes maasn-da,qmix-da,heuristic,trimcaching,coarse,no-cooperation,tdma-unicast \
  --seeds 3 --train-episodes "$episodes" --train-config docs/examples/training-fig8.json -o "$out"
