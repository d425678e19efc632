#!/usr/bin/env bash
# Fuzzes pbrepo's decoders of untrusted bytes with libFuzzer and AddressSanitizer (docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    fuzz each target for SECONDS (default 30), all targets by default
#   scripts/fuzz.sh --merge [TARGET...]      fold the last run's new inputs into the committed corpus (minimized)
#
# Targets: object, recipe, json, safetensors-header (Sources/FuzzHarnesses), and hdf5-cli: mutants of the bundled
# HDF5 samples through `pbrepo inspect`, whose HDF5 reading runs in a child process (scripts/fuzz_hdf5_cli.py).
# Each libFuzzer target starts from Tests/FuzzRegressionTests/Corpus/TARGET and its regression inputs, and writes
# what it finds to .build-fuzz/work/TARGET; a crash is saved as .build-fuzz/artifacts/TARGET/crash-* and fails the
# run. A crash input becomes a regression test: copy it to Tests/FuzzRegressionTests/Regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

LIBFUZZER_TARGETS=(object recipe json safetensors-header)
ALL_TARGETS=("${LIBFUZZER_TARGETS[@]}" hdf5-cli)
CORPUS=Tests/FuzzRegressionTests/Corpus
REGRESSIONS=Tests/FuzzRegressionTests/Regressions
WORK=.build-fuzz/work
ARTIFACTS=.build-fuzz/artifacts
FUZZER=.build-fuzz/debug/pbrepo-fuzz

merge=0
seconds=30
if [[ "${1:-}" == "--merge" ]]; then merge=1; shift; elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
for target in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target $target (${ALL_TARGETS[*]})" >&2; exit 64; }
done

# Every Swift module is instrumented (coverage for libFuzzer, AddressSanitizer); lld, because gold fails on the
# sanitizers' debug information.
echo "building the fuzzer (.build-fuzz, AddressSanitizer) ..."
swift build --build-path .build-fuzz -c debug --product pbrepo-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld

# An object may legitimately decode to 128 KiB per 3 bytes of zstd; 4 KiB inputs keep that under the RSS limit.
max_len() { [[ $1 == object ]] && echo 4096 || echo 65536; }

failed=()
for target in "${targets[@]}"; do
  if [[ $target == hdf5-cli ]]; then
    [[ $merge == 1 ]] && continue
    swift build --product pbrepo >/dev/null
    echo "fuzzing hdf5-cli for ${seconds}s ..."
    python3 scripts/fuzz_hdf5_cli.py --seconds "$seconds" --pbrepo .build/debug/pbrepo --artifacts "$ARTIFACTS/hdf5-cli" \
      || failed+=("$target")
    continue
  fi
  mkdir -p "$WORK/$target" "$ARTIFACTS/$target" "$REGRESSIONS/$target"
  if [[ $merge == 1 ]]; then
    PBREPO_FUZZ_TARGET=$target "$FUZZER" -merge=1 "$CORPUS/$target" "$WORK/$target" 2>&1 | tail -n 2
    continue
  fi
  echo "fuzzing $target for ${seconds}s ..."
  # -timeout: one input taking 10 s is a finding (a hang); -rss_limit_mb: so is an input that needs 2 GiB.
  if PBREPO_FUZZ_TARGET=$target "$FUZZER" "$WORK/$target" "$CORPUS/$target" "$REGRESSIONS/$target" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" -print_final_stats=1 \
      -artifact_prefix="$ARTIFACTS/$target/" > "$WORK/$target.log" 2>&1; then
    grep -E "^stat::(number_of_executed_units|new_units_added|peak_rss_mb)" "$WORK/$target.log" | tr '\n' ' '; echo
  else
    echo "fuzz.sh: $target found a failure; the input is in $ARTIFACTS/$target/ and the log in $WORK/$target.log:" >&2
    grep -E "ERROR|expectation failed|Fatal error|SUMMARY" "$WORK/$target.log" | head -n 5 >&2 || true
    failed+=("$target")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then echo "fuzz.sh: failures in: ${failed[*]}" >&2; exit 1; fi
echo "fuzz.sh: no finding"
