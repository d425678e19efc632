#!/usr/bin/env bash
# The memory bound of issue 13, on a model larger than the bound: a generated 2 GiB safetensors file (a 512 MiB F32
# tensor, larger than the window, and 12 of 128 MiB; random bytes) is ingested, assembled, verified (with --decode)
# and exported by the release binary, and each command's own accounting (`peak_rss_bytes` of --json: VmHWM,
# anonymous and file-backed pages together) must stay well within the issue's two bounds added up (1 GiB of
# anonymous memory and a tensor window, 128 MiB, of file pages per thread), with two threads (-j 2, so that the
# bound is the same on every machine). Before the readers let go of the pages behind them, ingest alone held twice the model in
# file pages; before tensors over 64 MiB became lists of chunks, the large tensor took several copies of itself. The
# assembled file must equal the source. Run by `make test` after check_install.sh (which builds the binary);
# `scripts/check_memory.sh BINARY` runs it on another one.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-.build-static/release/pbrepo}
jobs=2
# The issue's bound is 1 GiB + a window per thread (1280 MiB); the commands peak at 260-560 MiB since buffers are
# pooled and tensors chunked (docs/benchmarks.md), so the check holds them to 768 MiB: a regression such as malloc's
# heap keeping per-object buffers (which grew a 7B ingest to 1.5 GiB, 865 MiB here) fails it well before the bound.
limit=$((768 << 20))
work=$(mktemp -d "${TMPDIR:-/var/tmp}/pbrepo-memory.XXXXXX")
trap 'rm -rf "$work"' EXIT

sizes=($((512 << 20)))
for ((i = 0; i < 12; i++)); do sizes+=($((128 << 20))); done
total=0
header='{'
for ((i = 0; i < ${#sizes[@]}; i++)); do
  [[ $i -gt 0 ]] && header+=','
  header+="\"layers.$i.weight\":{\"dtype\":\"F32\",\"shape\":[$((sizes[i] / 4096)),1024],\"data_offsets\":[$total,$((total + sizes[i]))]}"
  total=$((total + sizes[i]))
done
header+='}'
while (( ${#header} % 8 != 0 )); do header+=' '; done
model="$work/model.safetensors"
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('<Q', int(sys.argv[1])))" "${#header}" > "$model"
printf '%s' "$header" >> "$model"
head -c $total /dev/urandom >> "$model"

peak() { python3 -c "import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d['peak_rss_bytes'])"; }
check() {
  local what=$1 bytes=$2
  echo "check_memory: $what peak RSS $((bytes >> 20)) MiB (limit $((limit >> 20)) MiB, model $((total >> 20)) MiB)"
  if (( bytes > limit )); then
    echo "check_memory: $what of a $((total >> 20)) MiB model peaked at $bytes bytes, over $limit" >&2
    exit 1
  fi
}
store="$work/store"
check ingest "$("$binary" -j $jobs ingest -q --store "$store" "$model" --name big --json | peak)"
check assemble "$("$binary" -j $jobs assemble -q --store "$store" big -o "$work/out.safetensors" --json | peak)"
cmp "$model" "$work/out.safetensors"
rm "$work/out.safetensors"
check verify "$("$binary" -j $jobs verify -q --decode --store "$store" --json | peak)"
check export-blocks "$("$binary" -j $jobs export-blocks -q --store "$store" big -o "$work/export" --json | peak)"
