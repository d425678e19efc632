#!/usr/bin/env python3
"""Checks pbrepo against files written by the real tools, and the samples against the real tools.

Not part of CI (it needs torch, transformers, peft, keras and jax). Run:

    python3 -m venv /tmp/real && /tmp/real/bin/pip install torch transformers==5.23.0 peft==0.21.2 \
        keras==3.15.1 "jax[cpu]" safetensors==0.8.0 h5py==3.16.0 xxhash scikit-learn
    swift build -c release
    KERAS_BACKEND=jax /tmp/real/bin/python samples/check_real_tools.py .build/release/pbrepo

1. Writes checkpoints with transformers' save_pretrained (single file, sharded, tied embeddings, bfloat16), PEFT's
   adapter save, and Keras 3's legacy .h5 and .weights.h5 (float32 and bfloat16), then compares every tensor of
   `pbrepo inspect --json` with safetensors/h5py + xxhash.
2. Loads pbrepo's samples with the real tools: transformers and PEFT load the tiny Llama and its adapters (same
   losses as recorded in samples/truth.json), Keras loads the MLP's .h5 and .weights.h5 (same accuracy).
"""

import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py
import numpy as np
import xxhash

HERE = os.path.dirname(os.path.abspath(__file__))
FAILURES = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        FAILURES.append(what)


def pbrepo_inspect(binary, path):
    out = subprocess.run([binary, "inspect", path, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return {t["name"]: t for t in json.loads(out.stdout)["tensors"]}


def safetensors_digests(paths):
    import torch
    from safetensors import safe_open
    found = {}
    for path in paths:
        with safe_open(path, framework="pt") as f:
            for name in f.keys():
                tensor = f.get_tensor(name).contiguous()
                raw = tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
                found[name] = (xxhash.xxh3_128_hexdigest(raw), list(tensor.shape))
    return found


def hdf5_digests(path):
    found = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = np.asarray(obj[()])
                if data.dtype.kind in "iuf" and data.dtype.byteorder == ">":
                    data = data.astype(data.dtype.newbyteorder("<"))
                found[name] = (xxhash.xxh3_128_hexdigest(np.ascontiguousarray(data).tobytes()), list(data.shape))
        f.visititems(visit)
    return found


def compare(binary, label, path, expected):
    got = pbrepo_inspect(binary, path)
    same = set(got) == set(expected) and all(
        got[n]["xxh3_128"] == d and got[n]["shape"] == s for n, (d, s) in expected.items())
    check(same, f"{label}: {len(expected)} tensors agree with Python ({os.path.basename(path)})")


def write_with_real_tools(binary, scratch):
    import keras
    import peft
    import torch
    import transformers
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = transformers.LlamaForCausalLM(config)
    for name, kwargs in (("llama", {}), ("llama-sharded", {"max_shard_size": "40KB"})):
        directory = os.path.join(scratch, name)
        model.save_pretrained(directory, **kwargs)
        shards = sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".safetensors"))
        compare(binary, f"transformers {transformers.__version__} save_pretrained {name} ({len(shards)} file(s))",
                directory, safetensors_digests(shards))
    tied = transformers.LlamaForCausalLM(transformers.LlamaConfig(**{**config.to_dict(), "tie_word_embeddings": True}))
    tied.to(torch.bfloat16).save_pretrained(os.path.join(scratch, "llama-tied-bf16"))
    path = os.path.join(scratch, "llama-tied-bf16", "model.safetensors")
    compare(binary, "transformers save_pretrained tied bfloat16", path, safetensors_digests([path]))
    check("lm_head.weight" not in pbrepo_inspect(binary, path), "tied model has no lm_head.weight")

    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(os.path.join(scratch, "adapter"))
    path = os.path.join(scratch, "adapter", "adapter_model.safetensors")
    compare(binary, f"peft {peft.__version__} adapter save", path, safetensors_digests([path]))

    x = np.random.default_rng(0).normal(size=(32, 8, 8, 1)).astype("float32")
    y = np.random.default_rng(1).integers(0, 10, 32)
    for policy in ("float32", "bfloat16"):
        keras.config.set_dtype_policy(policy)
        net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv1"),
                                keras.layers.BatchNormalization(), keras.layers.Flatten(),
                                keras.layers.Dense(10, name="predictions")])
        net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        net.fit(x, y, epochs=1, verbose=0)
        for suffix in (".h5", ".weights.h5"):
            path = os.path.join(scratch, f"keras-{policy}{suffix}")
            (net.save if suffix == ".h5" else net.save_weights)(path)
            compare(binary, f"keras {keras.__version__} {policy} {suffix}", path, hdf5_digests(path))
    keras.config.set_dtype_policy("float32")


def load_samples_with_real_tools():
    import keras
    import peft
    import torch
    import transformers
    from sklearn.datasets import load_digits
    truth = json.load(open(os.path.join(HERE, "truth.json")))["training"]
    digits = load_digits()
    tokens = np.concatenate([np.zeros((len(digits.images), 1), np.int64),
                             digits.images.reshape(len(digits.images), -1).astype(np.int64) + 1], 1)
    low, high = tokens[digits.target < 5][:200], tokens[digits.target >= 5][:200]

    def loss(model, data):
        with torch.no_grad():
            ids = torch.tensor(data)
            return float(model(input_ids=ids, labels=ids).loss)

    base = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(HERE, "transformer/tiny-llama-base"))
    expected = truth["transformer/tiny-llama-base"]["eval_loss_digits_0_4"]
    check(abs(loss(base, low) - expected) < 1e-3, f"transformers loads tiny-llama-base: loss {loss(base, low):.4f} vs {expected:.4f}")
    sharded = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(HERE, "transformer/tiny-llama-ft-sharded"))
    expected = truth["transformer/tiny-llama-ft-sharded"]["eval_loss_digits_5_9"]
    check(abs(loss(sharded, high) - expected) < 1e-3, f"transformers loads the sharded fine-tune: loss {loss(sharded, high):.4f} vs {expected:.4f}")
    tied = transformers.AutoModelForCausalLM.from_pretrained(os.path.join(HERE, "transformer/tiny-llama-tied-bf16"))
    check(tied.lm_head.weight.data_ptr() == tied.model.embed_tokens.weight.data_ptr(), "transformers ties the bf16 model's head")
    adapted = peft.PeftModel.from_pretrained(base, os.path.join(HERE, "lora/digits-5-9"))
    expected = truth["lora/digits-5-9"]["eval_loss_with_adapter"]
    check(abs(loss(adapted, high) - expected) < 1e-3, f"peft loads the digits-5-9 adapter: loss {loss(adapted, high):.4f} vs {expected:.4f}")

    x = (digits.images / 16.0).astype(np.float32)
    rotated = np.rot90(x, k=1, axes=(1, 2)).reshape(len(x), -1)
    test = np.random.default_rng(20261122).permutation(len(x))[1400:]
    for suffix in (".weights.h5", ".h5"):
        net = keras.Sequential([keras.Input((64,))] + [keras.layers.Dense(u, activation="relu") for u in (48, 32, 32, 24)]
                               + [keras.layers.Dropout(0.1), keras.layers.Dense(10)])
        net.load_weights(os.path.join(HERE, "mlp", "mlp-ft-freeze2" + suffix))
        accuracy = float(np.mean(np.argmax(net.predict(rotated[test], verbose=0), -1) == digits.target[test]))
        expected = truth["mlp/mlp-ft-freeze2"]["test_accuracy"]
        check(abs(accuracy - expected) < 1e-6, f"keras loads mlp-ft-freeze2{suffix}: accuracy {accuracy:.4f} vs {expected:.4f}")


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/pbrepo")
    with tempfile.TemporaryDirectory() as scratch:
        write_with_real_tools(binary, scratch)
    load_samples_with_real_tools()
    print(f"\n{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
