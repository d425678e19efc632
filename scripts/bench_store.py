#!/usr/bin/env python3
"""Store benchmark: ingest and assemble throughput and stored size, next to zstd, xxhsum, ZipNN and ZipLLM's method.

Not part of CI. Needs numpy, zstandard and zipnn (pip) and Debian's zstd and xxhash:

    python3 -m venv /tmp/b && /tmp/b/bin/pip install numpy zstandard zipnn
    apt-get install -y zstd xxhash
    swift build -c release --product pbrepo
    /tmp/b/bin/python scripts/bench_store.py --pbrepo .build/release/pbrepo --work /tmp/pbrepo-bench

Two generated families of four safetensors models each (seeded, so every run measures the same bytes):

- fp32-partial: a base with an embedding, 6 Transformer layers (hidden 1024, MLP 2816) and a head (~375 MB), and
  three fine-tunes that froze the embedding and the lower 4, 2 and 0 layers; trained weights drift from the base by
  ~1 % of their scale.
- bf16-full: a base of ~188 MB in bfloat16 and five fine-tunes that changed every weight (no frozen layer at all),
  drifting by ~0.5 % of the scale, then rounded to bfloat16 — the case of ZipLLM's BitX.

Every timing is on a warm page cache (files read once first), wall clock, whole commands, after a `sync` so that
no earlier step's writeback competes; each is the median of `--repeat` runs (5 by default).
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import time

import numpy as np
import zstandard
import zipnn

HIDDEN, MLP, VOCAB, LAYERS = 1024, 2816, 8192, 6


def bf16_bits(array):
    bits = array.astype(np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def save(path, tensors, dtype):
    """Reference-writer layout (names sorted, one dtype), written directly to avoid holding copies."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(tensors):
        size = tensors[name].nbytes
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name in sorted(tensors):
            f.write(tensors[name].tobytes())


def shapes():
    yield "model.embed_tokens.weight", (VOCAB, HIDDEN)
    for layer in range(LAYERS):
        for kind in "qkvo":
            yield f"model.layers.{layer}.self_attn.{kind}_proj.weight", (HIDDEN, HIDDEN)
        yield f"model.layers.{layer}.mlp.gate_proj.weight", (MLP, HIDDEN)
        yield f"model.layers.{layer}.mlp.up_proj.weight", (MLP, HIDDEN)
        yield f"model.layers.{layer}.mlp.down_proj.weight", (HIDDEN, MLP)
        yield f"model.layers.{layer}.input_layernorm.weight", (HIDDEN,)
        yield f"model.layers.{layer}.post_attention_layernorm.weight", (HIDDEN,)
    yield "model.norm.weight", (HIDDEN,)
    yield "lm_head.weight", (VOCAB, HIDDEN)


def generate(work):
    rng = np.random.default_rng(20261122)
    families = {}
    base = {n: (np.ones(s, np.float32) if len(s) == 1 else rng.normal(0, 0.02, s).astype(np.float32)) for n, s in shapes()}
    directory = os.path.join(work, "fp32-partial")
    os.makedirs(directory, exist_ok=True)
    save(os.path.join(directory, "base.safetensors"), base, "F32")
    for frozen in (4, 2, 0):
        frozen_prefixes = ["model.embed_tokens."] + [f"model.layers.{i}." for i in range(frozen)]
        tuned = {n: (w if any(n.startswith(p) for p in frozen_prefixes)
                     else (w + rng.normal(0, 0.01, w.shape).astype(np.float32) * np.abs(w)).astype(np.float32))
                 for n, w in base.items()}
        save(os.path.join(directory, f"ft-freeze{frozen}.safetensors"), tuned, "F32")
    families["fp32-partial"] = directory

    directory = os.path.join(work, "bf16-full")
    os.makedirs(directory, exist_ok=True)
    scale = {n: w for n, w in base.items()}
    save(os.path.join(directory, "base.safetensors"), {n: bf16_bits(w) for n, w in scale.items()}, "BF16")
    for index in range(5):
        tuned = {n: bf16_bits(w + rng.normal(0, 0.005, w.shape).astype(np.float32) * np.abs(w)) for n, w in scale.items()}
        save(os.path.join(directory, f"ft-full{index}.safetensors"), tuned, "BF16")
    families["bf16-full"] = directory
    return families


def timed(command, **kwargs):
    os.sync()  # no writeback of earlier steps' dirty pages competes with the command timed
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def median_of(repeat, run):
    """Median over `repeat` runs of `run()` (which returns seconds): the VM's figures vary by tens of percent."""
    times = sorted(run() for _ in range(repeat))
    return times[len(times) // 2]


def tensors_of(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}, header


def zipllm_size(files, dtype):
    """ZipLLM's method as published: ZipNN for the base model; for each fine-tune, BitX — XOR against the base's
    tensor, then the exponent stream and the sign+mantissa stream compressed apart with zstd level 3."""
    base_tensors, header = tensors_of(files[0])
    z = zipnn.ZipNN(bytearray_dtype="bfloat16" if dtype == "BF16" else "float32")
    # zipnn 0.5.4 reorders the bytes of the buffer it is given in place: hand it copies.
    total = sum(len(z.compress(bytearray(t))) for t in base_tensors.values())
    compressor = zstandard.ZstdCompressor(level=3)
    for path in files[1:]:
        tensors, _ = tensors_of(path)
        for name, data in tensors.items():
            if dtype == "BF16":
                x = np.frombuffer(data, np.uint16) ^ np.frombuffer(base_tensors[name], np.uint16)
                exponent = ((x >> 7) & 0xFF).astype(np.uint8)
                sign_mantissa = (((x >> 15) << 7) | (x & 0x7F)).astype(np.uint8)
            else:
                x = np.frombuffer(data, np.uint32) ^ np.frombuffer(base_tensors[name], np.uint32)
                exponent = ((x >> 23) & 0xFF).astype(np.uint8)
                sign_mantissa = np.frombuffer((((x >> 31) << 23) | (x & 0x7FFFFF)).astype(np.uint32).tobytes(), np.uint8)
            total += len(compressor.compress(exponent.tobytes())) + len(compressor.compress(sign_mantissa.tobytes()))
    return total


def zipnn_size(files, dtype):
    z = zipnn.ZipNN(bytearray_dtype="bfloat16" if dtype == "BF16" else "float32")
    return sum(sum(len(z.compress(bytearray(t))) for t in tensors_of(path)[0].values()) for path in files)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pbrepo", default=".build/release/pbrepo")
    parser.add_argument("--work", default="/tmp/pbrepo-bench")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each timed command; the median is reported")
    args = parser.parse_args()
    pbrepo = os.path.abspath(args.pbrepo)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    families = generate(args.work)
    rows = []
    for family, directory in families.items():
        files = sorted(os.path.join(directory, n) for n in os.listdir(directory))
        files.sort(key=lambda p: (not os.path.basename(p).startswith("base"), p))
        logical = sum(os.path.getsize(p) for p in files)
        for path in files:  # warm the page cache
            with open(path, "rb") as f:
                while f.read(1 << 24):
                    pass
        store = os.path.join(args.work, "store-" + family)

        def ingest_once():
            shutil.rmtree(store, ignore_errors=True)
            return timed([pbrepo, "ingest", "--store", store, "--family", family] + files)

        ingest = median_of(args.repeat, ingest_once)
        report = json.loads(subprocess.run([pbrepo, "report", "--store", store, "--json"], check=True,
                                           capture_output=True, text=True).stdout)
        out = os.path.join(args.work, "out-" + family)
        os.makedirs(out + "/d")
        assemble = 0.0
        assemble_sha256 = 0.0
        for path in files:
            name = os.path.basename(path)[: -len(".safetensors")]
            target = os.path.join(out, name)

            def assemble_once(*extra):
                if os.path.exists(target):
                    os.remove(target)
                return timed([pbrepo, "assemble", "--store", store, name, "-o", target, *extra])

            assemble_sha256 += median_of(args.repeat, lambda: assemble_once("--sha256"))
            assemble += median_of(args.repeat, assemble_once)
            assert open(path, "rb").read() == open(target, "rb").read(), name
        zstd_time = median_of(args.repeat, lambda: timed(["zstd", "-T0", "-1", "-q", "-f", "--output-dir-flat", out] + files))
        zstd1 = sum(os.path.getsize(os.path.join(out, os.path.basename(p) + ".zst")) for p in files)
        zstd_d_time = median_of(args.repeat, lambda: timed(
            ["zstd", "-d", "-T0", "-q", "-f", "--output-dir-flat", out + "/d"] + [os.path.join(out, os.path.basename(p) + ".zst") for p in files]))
        xxh_time = median_of(args.repeat, lambda: timed(["xxhsum", "-H2"] + files))
        subprocess.run(["zstd", "-T0", "-3", "-q", "-f", "--output-dir-flat", out] + files, check=True)
        zstd3 = sum(os.path.getsize(os.path.join(out, os.path.basename(p) + ".zst")) for p in files)
        dtype = "BF16" if family.startswith("bf16") else "F32"
        rows.append({
            "family": family, "files": len(files), "logical_bytes": logical,
            "pbrepo_ingest_s": ingest, "pbrepo_ingest_gbps": logical / ingest / 1e9,
            "pbrepo_assemble_s": assemble, "pbrepo_assemble_gbps": logical / assemble / 1e9,
            "pbrepo_assemble_sha256_s": assemble_sha256, "pbrepo_assemble_sha256_gbps": logical / assemble_sha256 / 1e9,
            "zstd_d_T0_s": zstd_d_time, "zstd_d_T0_gbps": logical / zstd_d_time / 1e9,
            "zstd_T0_1_s": zstd_time, "zstd_T0_1_gbps": logical / zstd_time / 1e9,
            "xxhsum_H2_s": xxh_time, "xxhsum_H2_gbps": logical / xxh_time / 1e9,
            "pbrepo_stored_bytes": report["stored_bytes"], "zstd_1_bytes": zstd1, "zstd_3_bytes": zstd3,
            "zipnn_bytes": zipnn_size(files, dtype), "zipllm_bytes": zipllm_size(files, dtype),
        })
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
