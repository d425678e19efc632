#!/usr/bin/env python3
"""The store at model sizes (issue 13): each command next to the limit or peer it is judged by, in one run.

Not part of CI. Needs numpy and Debian's zstd, xxhash and openssl:

    apt-get install -y zstd xxhash openssl
    swift build -c release --product pbrepo
    python3 scripts/bench_store_scale.py --pbrepo .build/release/pbrepo --work /var/tmp/pbrepo-scale [--sizes 90M,500M,3G]

Models (generated, seeded, random weights: nothing deduplicates, so this is the worst case for the store):
  90M   F32, 24 tensors          500M  F32, 40 tensors          3G  BF16, 96 tensors          (any NM / NG works)
Each case runs, alternating, --repeat times (median reported; min–max beside it):
  ingest        pbrepo ingest into an empty store          vs  zstd -1 -T0 of the file; xxhsum -H2 + openssl sha256
  assemble      pbrepo assemble to a new file (durable)    vs  dd bs=8M oflag=direct conv=fsync (a
                                                               durable copy of the same bytes); zstd -d -T0
  verify        pbrepo verify of the store (file checksums) vs  xxhsum -H2 of the source (the hashing limit);
                verify --decode (every object decoded) beside it
Peak memory of each pbrepo command from /proc/PID/status, sampled every 5 ms: RssAnon and RssFile (mapped file
pages resident), and VmHWM. The load average is printed before and after. Page cache warm (source read once
first), `sync` before every timed command.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import threading
import time

import numpy as np

UNITS = {"M": 10**6, "G": 10**9}


def parse_size(text):
    return int(float(text[:-1]) * UNITS[text[-1].upper()])


def generate(path, size, dtype, tensors, seed):
    """A safetensors file of `tensors` random tensors of `dtype` adding up to about `size` bytes."""
    element = 4 if dtype == "F32" else 2
    per_tensor = size // tensors // element
    columns = 1024
    rows = max(1, per_tensor // columns)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    names = [f"model.layers.{i}.weight" for i in range(tensors)]
    for name in names:
        nbytes = rows * columns * element
        header[name] = {"dtype": dtype, "shape": [rows, columns], "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _ in names:
            # Weights-like values (normal, small scale), so that exponents compress as real weights' do.
            values = (rng.standard_normal(rows * columns, dtype=np.float32) * 0.02)
            if dtype == "BF16":
                bits = values.view(np.uint32)
                values = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
            f.write(values.tobytes())
    return offset


class Peak:
    """Samples a running process's memory from /proc/PID/status."""

    def __init__(self, pid):
        self.pid, self.anon, self.file, self.hwm = pid, 0, 0, 0
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while self.running:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        key, _, value = line.partition(":")
                        kib = int(value.split()[0]) * 1024 if value.strip() and value.split()[0].isdigit() else 0
                        if key == "RssAnon":
                            self.anon = max(self.anon, kib)
                        elif key == "RssFile":
                            self.file = max(self.file, kib)
                        elif key == "VmHWM":
                            self.hwm = max(self.hwm, kib)
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
            time.sleep(0.005)

    def stop(self):
        self.running = False
        self.thread.join()


def run(command, measure=False, **kwargs):
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    peak = Peak(process.pid) if measure else None
    _, stderr = process.communicate()
    seconds = time.perf_counter() - start
    if peak:
        peak.stop()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {stderr.decode()[-2000:]}")
    return seconds, peak


def shell(text):
    return ["bash", "-c", text]


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pbrepo", default=".build/release/pbrepo")
    parser.add_argument("--work", default="/var/tmp/pbrepo-scale")
    parser.add_argument("--sizes", default="90M,500M,3G")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    pbrepo = os.path.abspath(args.pbrepo)
    os.makedirs(args.work, exist_ok=True)
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    results = []
    for index, text in enumerate(args.sizes.split(",")):
        size = parse_size(text)
        dtype, tensors = ("BF16", 96) if size >= 2 * 10**9 else ("F32", 24 if size < 2 * 10**8 else 40)
        case = os.path.join(args.work, text)
        shutil.rmtree(case, ignore_errors=True)
        os.makedirs(case)
        source = os.path.join(case, "model.safetensors")
        generate(source, size, dtype, tensors, seed=index + 1)
        actual = os.path.getsize(source)
        subprocess.run(["cat", source], stdout=subprocess.DEVNULL, check=True)
        store, out = os.path.join(case, "store"), os.path.join(case, "out.safetensors")
        copy, packed = os.path.join(case, "copy"), os.path.join(case, "model.safetensors.zst")
        times = {k: [] for k in ["ingest", "zstd", "hash", "assemble", "dd", "unzstd", "verify", "verify_decode", "xxhsum"]}
        peaks = {}
        for _ in range(args.repeat):
            shutil.rmtree(store, ignore_errors=True)
            seconds, peak = run([pbrepo, "ingest", "-q", "--store", store, source, "--name", "m"], measure=True)
            times["ingest"].append(seconds)
            peaks["ingest"] = peak
            times["zstd"].append(run(["zstd", "-q", "-f", "-1", "-T0", source, "-o", packed])[0])
            times["hash"].append(run(shell(f"xxhsum -H2 {source} >/dev/null && openssl dgst -sha256 {source} >/dev/null"))[0])
            for path in (out, copy):
                if os.path.exists(path):
                    os.remove(path)
            seconds, peak = run([pbrepo, "assemble", "-q", "--store", store, "m", "-o", out], measure=True)
            times["assemble"].append(seconds)
            peaks["assemble"] = peak
            times["dd"].append(run(["dd", f"if={source}", f"of={copy}", "bs=8M", "oflag=direct",
                                    "conv=fsync", "status=none"])[0])
            times["unzstd"].append(run(["zstd", "-q", "-d", "-f", "-T0", packed, "-o", copy])[0])
            seconds, peak = run([pbrepo, "verify", "-q", "--store", store], measure=True)
            times["verify"].append(seconds)
            peaks["verify"] = peak
            seconds, peak = run([pbrepo, "verify", "-q", "--decode", "--store", store], measure=True)
            times["verify_decode"].append(seconds)
            peaks["verify_decode"] = peak
            times["xxhsum"].append(run(["xxhsum", "-H2", source])[0])
        if subprocess.run(["cmp", source, out]).returncode != 0:
            raise SystemExit(f"{out} differs from {source}")
        stored = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(os.path.join(store, "objects"))
                     for n in ns)
        m = {k: median(v) for k, v in times.items()}
        row = {"case": text, "bytes": actual, "dtype": dtype, "tensors": tensors, "stored_bytes": stored,
               "zstd_bytes": os.path.getsize(packed), "medians_s": m,
               "ranges_s": {k: [min(v), max(v)] for k, v in times.items()},
               "ratios": {"ingest/zstd": m["ingest"] / m["zstd"], "ingest/hash": m["ingest"] / m["hash"],
                          "assemble/dd": m["assemble"] / m["dd"], "assemble/unzstd": m["assemble"] / m["unzstd"],
                          "verify_speed/xxhsum_speed": m["xxhsum"] / m["verify"],
                          "verify_decode_speed/xxhsum_speed": m["xxhsum"] / m["verify_decode"]},
               "peak_bytes": {k: {"anon": p.anon, "file": p.file, "hwm": p.hwm} for k, p in peaks.items()}}
        results.append(row)
        gib = 2**30
        print(f"\n{text}: {actual / 1e9:.2f} GB {dtype}, {tensors} tensors; stored {stored / 1e6:.0f} MB, "
              f"zstd -1 {row['zstd_bytes'] / 1e6:.0f} MB")
        for key in times:
            low, high = row["ranges_s"][key]
            print(f"  {key:9s} {m[key]:7.3f} s  ({low:.3f}–{high:.3f})  {actual / m[key] / 1e9:6.2f} GB/s")
        for key, value in row["ratios"].items():
            print(f"  {key:26s} {value:.2f}")
        for key, p in peaks.items():
            print(f"  peak {key:9s} anon {p.anon / gib:.2f} GiB, file {p.file / gib:.2f} GiB, HWM {p.hwm / gib:.2f} GiB")
        shutil.rmtree(case, ignore_errors=True)
    print(f"\nload average after: {open('/proc/loadavg').read().split()[:3]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
