#!/usr/bin/env python3
"""Mutation fuzzing of pbrepo's HDF5 reading through the CLI (libhdf5 runs in a child process, so this harness
drives the whole program rather than linking libFuzzer into it).

Each mutant of a bundled HDF5 sample (bit flips, overwritten bytes, truncations, insertions, deletions; mostly in
the first 4 KiB where the superblock and object headers live) goes through `pbrepo inspect --json`. A finding is a
pbrepo process killed by a signal or trapping ("Fatal error"), one that runs past the child's 60 s limit plus a
margin, or a success whose JSON does not parse. A mutant pbrepo accepts is also ingested into a scratch store and
assembled: the rebuilt file must equal the mutant byte for byte. Findings are copied to --artifacts.

  scripts/fuzz_hdf5_cli.py --seconds 30 --pbrepo .build/release/pbrepo --artifacts DIR [--seed N]

Deterministic for a seed (the default seed is fixed); --seconds bounds the run.
"""
import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF]


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    limit = min(len(out), 4096) if rng.random() < 0.75 else len(out)
    for _ in range(rng.choice([1, 1, 2, 3, 8])):
        kind = rng.random()
        at = rng.randrange(max(1, limit))
        if kind < 0.45 and out:
            out[at % len(out)] ^= 1 << rng.randrange(8)
        elif kind < 0.7 and out:
            width = rng.choice([1, 2, 4, 8])
            value = rng.choice(INTERESTING)
            for index in range(at, min(at + width, len(out))):
                out[index] = value
        elif kind < 0.8:
            del out[at:at + rng.choice([1, 8, 64])]
        elif kind < 0.9:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 8])))
        else:
            del out[rng.randrange(max(1, len(out))):]
    return bytes(out)


def run(command, timeout):
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout)
        return done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        return None, b"", b"timed out"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--pbrepo", required=True)
    parser.add_argument("--artifacts", required=True)
    parser.add_argument("--seed", type=int, default=20261202)
    arguments = parser.parse_args()
    samples = sorted(glob.glob("samples/hdf5/*.h5") + glob.glob("samples/mlp/*.h5"))
    originals = [(os.path.basename(path), open(path, "rb").read()) for path in samples]
    rng = random.Random(arguments.seed)
    scratch = tempfile.mkdtemp(prefix="pbrepo-fuzz-hdf5.")
    findings, mutants, accepted = [], 0, 0
    deadline = time.monotonic() + arguments.seconds
    try:
        while time.monotonic() < deadline:
            name, original = originals[mutants % len(originals)]
            mutant = mutate(original, rng)
            mutants += 1
            path = os.path.join(scratch, f"mutant-{mutants}.h5")
            with open(path, "wb") as file:
                file.write(mutant)
            status, out, err = run([arguments.pbrepo, "inspect", "--json", path], 90)
            problem = None
            if status is None:
                problem = "inspect did not finish in 90 s"
            elif status < 0 or status >= 128 or b"Fatal error" in err:
                problem = f"inspect exited with {status}: {err.decode(errors='replace').strip()[:300]}"
            elif status == 0:
                try:
                    json.loads(out)
                except ValueError as error:
                    problem = f"inspect --json printed invalid JSON: {error}"
            if problem is None and status == 0:
                accepted += 1
                store, rebuilt = os.path.join(scratch, "store"), os.path.join(scratch, "rebuilt.h5")
                status, _, err = run([arguments.pbrepo, "ingest", "--store", store, "--name", "m", path], 120)
                if status is None or status < 0 or status >= 128:
                    problem = f"ingest of an accepted mutant exited with {status}: {err.decode(errors='replace')[:300]}"
                elif status == 0:
                    status, _, err = run([arguments.pbrepo, "assemble", "--store", store, "m", "-o", rebuilt], 120)
                    if status != 0:
                        problem = f"assemble of an ingested mutant failed ({status}): {err.decode(errors='replace')[:300]}"
                    elif open(rebuilt, "rb").read() != mutant:
                        problem = "the assembled file differs from the ingested mutant"
                shutil.rmtree(store, ignore_errors=True)
                if os.path.exists(rebuilt):
                    os.remove(rebuilt)
            if problem:
                os.makedirs(arguments.artifacts, exist_ok=True)
                kept = os.path.join(arguments.artifacts, f"finding-{len(findings) + 1}-of-{name}")
                shutil.copyfile(path, kept)
                findings.append(f"{kept}: {problem}")
            os.remove(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"hdf5-cli: {mutants} mutants of {len(originals)} samples, {accepted} accepted (each ingested and assembled "
          f"byte-exact), {len(findings)} finding(s)")
    for finding in findings:
        print("  " + finding, file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
