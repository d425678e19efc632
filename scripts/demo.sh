#!/usr/bin/env bash
# The main job on the bundled samples: ingest every sample model into a fresh store, report parameter reuse,
# export manifests/samples.json (+ CSV), then assemble every model back and check it is byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
PBREPO=${PBREPO:-.build/release/pbrepo}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store="$work/store"

models=(
  samples/mlp/mlp-base.safetensors samples/mlp/mlp-ft-freeze{1,2,3,4}.safetensors
  samples/mlp/mlp-base.h5 samples/mlp/mlp-ft-freeze{1,2,3,4}.h5
  samples/mlp/mlp-base.weights.h5 samples/mlp/mlp-ft-freeze{1,2,3,4}.weights.h5
  samples/transformer/tiny-llama-base samples/transformer/tiny-llama-ft-sharded
  samples/transformer/tiny-llama-ft-top samples/transformer/tiny-llama-tied-bf16
  samples/lora/digits-5-9 samples/lora/digits-rotated
  samples/hdf5/dtypes-and-layouts.h5
)

echo "== ingest ${#models[@]} models into a fresh store"
"$PBREPO" ingest --store "$store" "${models[@]}"
echo
echo "== parameter reuse"
"$PBREPO" report --store "$store"
echo
echo "== blocks of tiny-llama-ft-sharded, and who shares them"
"$PBREPO" show --store "$store" tiny-llama-ft-sharded
echo
"$PBREPO" export-manifest --store "$store" -o manifests/samples.json --csv
echo
echo "== assemble every model and compare with the original bytes"
same=0
mkdir -p "$work/out"
for path in "${models[@]}"; do
  name=$(basename "$path"); name=${name%.safetensors}
  "$PBREPO" assemble --store "$store" "$name" -o "$work/out/$name" --sha256 > /dev/null
  if [ -d "$path" ]; then diff -rq "$path" "$work/out/$name" > /dev/null && same=$((same + 1)) || echo "DIFFERS: $name"
  else cmp -s "$path" "$work/out/$name" && same=$((same + 1)) || echo "DIFFERS: $name"; fi
done
"$PBREPO" verify --store "$store" > /dev/null
totals=$("$PBREPO" report --store "$store" | tail -n 1)
echo
echo "demo: ${#models[@]} models ingested, $same/${#models[@]} assembled byte-identical (sha256 checked), store verified; $totals"
