#!/usr/bin/env bash
# make install into a temporary prefix, then run the installed pbrepo with the Swift toolchain out of reach: an empty
# environment, a PATH of /usr/bin:/bin only, no LD_LIBRARY_PATH. Fails when the binary needs a Swift runtime library
# (ldd) or cannot ingest and rebuild a sample byte for byte. Run by `make test` (issue 12 §6).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory install PREFIX="$prefix" > "$prefix/install.log" 2>&1 || { cat "$prefix/install.log"; exit 1; }
binary="$prefix/bin/pbrepo"

# Every library it loads is a Debian one: nothing from the toolchain, no Swift runtime.
libraries=$(ldd "$binary")
if grep -Eq 'libswift|libFoundation|libdispatch|libBlocksRuntime|not found' <<<"$libraries"; then
  echo "check_install: $binary needs libraries outside Debian's runtime packages:" >&2
  echo "$libraries" >&2
  exit 1
fi
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
if grep -q "$toolchain" <<<"$libraries"; then
  echo "check_install: $binary loads libraries from the toolchain at $toolchain:" >&2
  echo "$libraries" >&2
  exit 1
fi

# Run it with nothing of the toolchain in the environment: a real ingest, assemble and verify.
run() { env -i PATH=/usr/bin:/bin HOME="$prefix" "$binary" "$@"; }
run --version > /dev/null
run ingest -q --store "$prefix/store" samples/mlp/mlp-base.safetensors samples/transformer/tiny-llama-ft-sharded > /dev/null
run assemble -q --store "$prefix/store" tiny-llama-ft-sharded -o "$prefix/out" > /dev/null
diff -r samples/transformer/tiny-llama-ft-sharded "$prefix/out"
run verify --store "$prefix/store" > /dev/null
echo "check_install: the installed binary ($(du -h "$binary" | cut -f1)) runs without the Swift toolchain; $(wc -l <<<"$libraries") shared libraries, all Debian's"
