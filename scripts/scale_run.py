#!/usr/bin/env python3
"""The scale run of issue 13: a 7B-shaped fp16 family (Llama-2-7B's tensor shapes, 6.74 B parameters, 13.5 GB per
model, sharded at 5 GB with a model.safetensors.index.json as Hugging Face writes it) ingested, reported, verified
and assembled by the release binary, with each command's time and peak memory.

The base has normal weights (sd 0.02, as trained layers look); the two fine-tunes keep the embedding and the lower
16 layers frozen (byte-identical) and change the low mantissa bits of half the elements of every upper tensor, as a
fine-tune near its base does. Sources are generated one model at a time and deleted once ingested (their SHA-256,
computed by hashlib while they are written, is kept); each assembled model is checked with `sha256sum` and deleted:
the run needs ~45 GB of disk at its peak, not the family's 40 GB three times over.

    python3 scripts/scale_run.py [--binary .build/release/pbrepo] [--work /var/tmp/pbrepo-scale] [--layers 32]

Prints one JSON object per step and a Markdown table at the end.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

VOCAB, HIDDEN, INTERMEDIATE = 32000, 4096, 11008
SHARD_BYTES = 5 * 10**9  # transformers' max_shard_size="5GB"
FROZEN_LAYERS = 16


def tensor_shapes(layers):
    shapes = [("model.embed_tokens.weight", [VOCAB, HIDDEN])]
    for layer in range(layers):
        prefix = f"model.layers.{layer}."
        shapes += [
            (prefix + "self_attn.q_proj.weight", [HIDDEN, HIDDEN]),
            (prefix + "self_attn.k_proj.weight", [HIDDEN, HIDDEN]),
            (prefix + "self_attn.v_proj.weight", [HIDDEN, HIDDEN]),
            (prefix + "self_attn.o_proj.weight", [HIDDEN, HIDDEN]),
            (prefix + "mlp.gate_proj.weight", [INTERMEDIATE, HIDDEN]),
            (prefix + "mlp.up_proj.weight", [INTERMEDIATE, HIDDEN]),
            (prefix + "mlp.down_proj.weight", [HIDDEN, INTERMEDIATE]),
            (prefix + "input_layernorm.weight", [HIDDEN]),
            (prefix + "post_attention_layernorm.weight", [HIDDEN]),
        ]
    return shapes + [("model.norm.weight", [HIDDEN]), ("lm_head.weight", [VOCAB, HIDDEN])]


def frozen(name):
    if name.startswith("model.embed_tokens"):
        return True
    if name.startswith("model.layers."):
        return int(name.split(".")[2]) < FROZEN_LAYERS
    return False


def tensor_bytes(name, shape, variant):
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    count = int(np.prod(shape))
    rng = np.random.default_rng(seed)
    if len(shape) == 1:
        values = (1 + 0.02 * rng.standard_normal(count, dtype=np.float32)).astype(np.float16)
    else:
        values = (0.02 * rng.standard_normal(count, dtype=np.float32)).astype(np.float16)
    bits = values.view(np.uint16)
    if variant > 0 and not frozen(name):
        tune = np.random.default_rng(seed + variant)
        mask = tune.integers(0, 8, count, dtype=np.uint16) * tune.integers(0, 2, count, dtype=np.uint16)
        bits ^= mask
    return bits.tobytes()


def write_model(directory, layers, variant):
    """Writes the shards and the index; returns {file: sha256} and the total bytes."""
    os.makedirs(directory, exist_ok=True)
    shapes = tensor_shapes(layers)
    shards, current, size = [], [], 0
    for name, shape in shapes:
        nbytes = 2 * int(np.prod(shape))
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += nbytes
    shards.append(current)
    digests, weight_map, total = {}, {}, 0
    for number, shard in enumerate(shards, 1):
        file = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape in shard:
            nbytes = 2 * int(np.prod(shape))
            header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
            weight_map[name] = file
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        sha = hashlib.sha256()
        with open(os.path.join(directory, file), "wb") as out:
            for piece in [len(text).to_bytes(8, "little"), text]:
                out.write(piece)
                sha.update(piece)
            for name, shape in shard:
                data = tensor_bytes(name, shape, variant)
                out.write(data)
                sha.update(data)
        digests[file] = sha.hexdigest()
        total += offset
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    index_bytes = (json.dumps(index, indent=2, sort_keys=True) + "\n").encode()
    with open(os.path.join(directory, "model.safetensors.index.json"), "wb") as out:
        out.write(index_bytes)
    digests["model.safetensors.index.json"] = hashlib.sha256(index_bytes).hexdigest()
    return digests, total


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(binary, arguments):
    """Runs pbrepo with --json; returns (seconds, parsed output)."""
    begin = time.monotonic()
    command = [binary, arguments[0], "-q", *arguments[1:], "--json"]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    output = json.loads(done.stdout)
    return time.monotonic() - begin, output[0] if isinstance(output, list) and len(output) == 1 else output


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=".build/release/pbrepo")
    parser.add_argument("--work", default="/var/tmp/pbrepo-scale")
    parser.add_argument("--layers", type=int, default=32)
    options = parser.parse_args()
    binary = os.path.abspath(options.binary)
    shutil.rmtree(options.work, ignore_errors=True)
    store = os.path.join(options.work, "store")
    rows, checksums = [], {}
    models = ["llama-7b-base", "llama-7b-ft-a", "llama-7b-ft-b"]

    def record(step, seconds, output=None, model_bytes=None):
        row = {"step": step, "seconds": round(seconds, 2), "load_average": load_average()}
        if output is not None:
            row["peak_rss_bytes"] = output.get("peak_rss_bytes")
            for key in ["new_stored_bytes", "new_objects", "reused_blocks", "blocks", "status", "ok"]:
                if key in output:
                    row[key] = output[key]
            if isinstance(output.get("seconds"), dict):
                row["stages"] = output["seconds"]
        if model_bytes:
            row["gb_per_s"] = round(model_bytes / seconds / 1e9, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)

    for variant, model in enumerate(models):
        source = os.path.join(options.work, "family", model)
        begin = time.monotonic()
        checksums[model], model_bytes = write_model(source, options.layers, variant)
        record(f"generate {model}", time.monotonic() - begin)
        seconds, output = run(binary, ["ingest", "--store", store, "--family", "llama-7b", "--name", model, source])
        record(f"ingest {model}", seconds, output, model_bytes)
        shutil.rmtree(source)
    seconds, output = run(binary, ["du", "--store", store])
    record("du", seconds)
    print(json.dumps(output), flush=True)
    for flags in [[], ["--decode"]]:
        seconds, output = run(binary, ["verify", "--store", store, *flags])
        record("verify " + " ".join(flags), seconds, output)
    for model in models:
        target = os.path.join(options.work, "out", model)
        seconds, output = run(binary, ["assemble", "--store", store, model, "-o", target])
        record(f"assemble {model}", seconds, output, model_bytes)
        for file, expected in checksums[model].items():
            actual = subprocess.run(
                ["sha256sum", os.path.join(target, file)], check=True, capture_output=True, text=True
            ).stdout.split()[0]
            if actual != expected:
                sys.exit(f"{model}/{file}: sha256 {actual}, the generated file had {expected}")
        print(json.dumps({"step": f"sha256sum {model}", "files": len(checksums[model]), "equal": True}), flush=True)
        shutil.rmtree(target)
    store_bytes = sum(
        os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(store) for name in names
    )
    print(json.dumps({"model_bytes": model_bytes, "store_bytes": store_bytes}), flush=True)
    print("\n| step | seconds | GB/s | peak RSS (MiB) | load average |\n| --- | ---: | ---: | ---: | --- |")
    for row in rows:
        peak = row.get("peak_rss_bytes")
        print(
            f"| {row['step']} | {row['seconds']} | {row.get('gb_per_s', '')} | "
            f"{'' if peak is None else peak >> 20} | {row['load_average']} |"
        )
    shutil.rmtree(options.work, ignore_errors=True)


if __name__ == "__main__":
    main()
