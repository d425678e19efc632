#!/usr/bin/env python3
"""Makes pbrepo's sample checkpoints: real models, really trained on scikit-learn's digits data set.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install -r samples/requirements.txt
    /tmp/v/bin/python samples/make_samples.py            # writes into samples/

Families (see samples/README.md):
  mlp/          an MLP trained on digits, and 4 fine-tunes on rotated digits with 1..4 frozen lower layers, each as
                safetensors, Keras legacy .h5 (model_weights/..., layer_names, weight_names) and Keras 3 .weights.h5
  transformer/  a tiny Llama-style causal LM over digit pixels (HF names; loads in transformers), two fine-tunes
                with frozen lower layers (one sharded with an index), and a separately trained model with tied
                embeddings stored in BF16
  lora/         two LoRA adapters of the tiny Llama in PEFT's adapter_model.safetensors naming
  hdf5/         one HDF5 file exercising dtypes, layouts and attribute kinds (f16, Keras bf16, bool, big-endian,
                chunked+gzip+shuffle, scalars, empty, fixed/variable strings, split attributes)
  hostile/      invalid files, and expected.json: the error code each must produce
  truth.json    every tensor's dtype, shape, size and xxh3_128 digest (computed here, independently of pbrepo),
                which tensors are frozen copies of the base model's, and the training results

Digests are xxhash.xxh3_128_hexdigest of the tensor's raw C-order little-endian bytes.
"""

import json
import os
import shutil
import struct
import sys

import autograd.numpy as anp
import h5py
import numpy as np
import safetensors
import safetensors.numpy as stnp
import sklearn
import xxhash
from autograd import grad
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261122
TRUTH = {"files": {}, "frozen_copies": {}, "training": {}}


def digest(array):
    return xxhash.xxh3_128_hexdigest(np.ascontiguousarray(array).tobytes())


def dtype_name(array):
    if array.dtype == np.dtype("V2"):
        return "BF16"
    return {"float16": "F16", "float32": "F32", "float64": "F64", "int8": "I8", "int16": "I16", "int32": "I32",
            "int64": "I64", "uint8": "U8", "uint16": "U16", "uint32": "U32", "uint64": "U64",
            "bool": "BOOL"}[array.dtype.newbyteorder("=").name]


def record(relpath, fmt, tensors):
    """tensors: name -> little-endian numpy array (bf16 as uint16 viewed 'V2' or as raw bits)."""
    TRUTH["files"][relpath] = {
        "format": fmt,
        "tensors": {name: {"dtype": dtype_name(a), "shape": list(a.shape), "bytes": int(a.nbytes),
                           "xxh3_128": digest(a)} for name, a in tensors.items()},
    }


def record_safetensors(relpath, tensors):
    record(relpath, "safetensors", tensors)


def record_hdf5(relpath):
    """Reads every dataset back with h5py and records it (big-endian data as its little-endian bytes)."""
    tensors = {}
    with h5py.File(os.path.join(HERE, relpath), "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = np.asarray(obj[()])
                if data.dtype.kind in "iuf" and data.dtype.byteorder == ">":
                    data = data.astype(data.dtype.newbyteorder("<"))
                if obj.attrs.get("dtype") == "bfloat16":
                    data = data.view("V2")
                tensors[name] = data
        f.visititems(visit)
    record(relpath, "hdf5", tensors)


def frozen(relpath, base, pairs):
    """pairs: (tensor in relpath, tensor in base) that must be byte-identical; checked here."""
    files = TRUTH["files"]
    for name, base_name in pairs:
        assert files[relpath]["tensors"][name]["xxh3_128"] == files[base]["tensors"][base_name]["xxh3_128"], name
    TRUTH["frozen_copies"][relpath] = {"base": base, "tensors": [{"tensor": a, "base_tensor": b} for a, b in pairs]}


def adam(params, trainable, loss, steps, lr, batches):
    m = {k: np.zeros_like(params[k]) for k in trainable}
    v = {k: np.zeros_like(params[k]) for k in trainable}
    gradient = grad(lambda p, batch: loss(p, batch))
    for step in range(1, steps + 1):
        g = gradient(params, batches(step))
        for k in trainable:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            update = lr * (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)
            params[k] = (params[k] - update).astype(np.float32)
    return params


# ----------------------------------------------------------------------------------------------------- MLP family

MLP_SIZES = [64, 48, 32, 32, 24]
MLP_LAYERS = [f"layers.{i}" for i in range(len(MLP_SIZES) - 1)] + ["head"]


def mlp_forward(p, x):
    h = x
    for name in MLP_LAYERS[:-1]:
        h = anp.maximum(0.0, anp.dot(h, p[name + ".weight"].T) + p[name + ".bias"])
    return anp.dot(h, p["head.weight"].T) + p["head.bias"]


def cross_entropy(logits, labels):
    shifted = logits - anp.max(logits, axis=-1, keepdims=True)
    log_probs = shifted - anp.log(anp.sum(anp.exp(shifted), axis=-1, keepdims=True))
    return -anp.mean(log_probs[np.arange(labels.shape[0]), labels])


def make_mlp_family(rng):
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target
    order = rng.permutation(len(x))
    train, test = order[:1400], order[1400:]
    rotated = np.rot90(x, k=1, axes=(1, 2)).copy()
    flat, flat_rot = x.reshape(len(x), -1), rotated.reshape(len(x), -1)

    params = {}
    sizes = MLP_SIZES + [10]
    for i, name in enumerate(MLP_LAYERS):
        fan_in, fan_out = sizes[i], sizes[i + 1]
        params[name + ".weight"] = rng.normal(0, np.sqrt(2 / fan_in), (fan_out, fan_in)).astype(np.float32)
        params[name + ".bias"] = np.zeros(fan_out, np.float32)

    def batches_for(data):
        def batches(step):
            idx = train[rng.integers(0, len(train), 64)]
            return data[idx], y[idx]
        return batches

    loss = lambda p, batch: cross_entropy(mlp_forward(p, batch[0]), batch[1])
    accuracy = lambda p, data: float(np.mean(np.argmax(mlp_forward(p, data[test]), -1) == y[test]))

    base = adam(dict(params), list(params), loss, 1500, 3e-3, batches_for(flat))
    models = {"mlp-base": (base, 0)}
    TRUTH["training"]["mlp/mlp-base"] = {"task": "digits", "test_accuracy": accuracy(base, flat),
                                         "accuracy_on_rotated_before_finetune": accuracy(base, flat_rot)}
    for frozen_layers in (1, 2, 3, 4):
        trainable = [k for k in base if k.rsplit(".", 1)[0] not in MLP_LAYERS[:frozen_layers]]
        tuned = adam(dict(base), trainable, loss, 800, 2e-3, batches_for(flat_rot))
        name = f"mlp-ft-freeze{frozen_layers}"
        models[name] = (tuned, frozen_layers)
        TRUTH["training"]["mlp/" + name] = {"task": "digits rotated by 90 degrees", "frozen_layers": frozen_layers,
                                            "test_accuracy": accuracy(tuned, flat_rot)}

    os.makedirs(os.path.join(HERE, "mlp"), exist_ok=True)
    for index, (name, (p, frozen_layers)) in enumerate(models.items()):
        rel = f"mlp/{name}.safetensors"
        stnp.save_file(p, os.path.join(HERE, rel),
                       metadata={"format": "pt", "frozen_layers": str(frozen_layers), "base": "mlp-base"})
        record_safetensors(rel, p)
        write_keras_legacy(f"mlp/{name}.h5", p, index)
        write_keras3(f"mlp/{name}.weights.h5", p, index)
        if frozen_layers:
            frozen_names = [f"{layer}.{kind}" for layer in MLP_LAYERS[:frozen_layers] for kind in ("weight", "bias")]
            frozen(rel, "mlp/mlp-base.safetensors", [(n, n) for n in frozen_names])
            for suffix, path_of in ((".h5", keras_legacy_path), (".weights.h5", keras3_path)):
                pairs = [(path_of(index, MLP_LAYERS.index(n.rsplit(".", 1)[0]), n.rsplit(".", 1)[1]),
                          path_of(0, MLP_LAYERS.index(n.rsplit(".", 1)[0]), n.rsplit(".", 1)[1])) for n in frozen_names]
                frozen(f"mlp/{name}{suffix}", f"mlp/mlp-base{suffix}", pairs)


# Keras numbers layers per session: the base's Dense layers are dense..dense_4; the k-th fine-tune, built later in
# the same session, gets dense_{5k}..dense_{5k+4} inside sequential_k. Kernels are [in, out] (PyTorch's transpose).
def keras_layer_name(model_index, layer):
    number = model_index * len(MLP_LAYERS) + layer
    return "dense" if number == 0 else f"dense_{number}"


def keras_scope(model_index):
    return "sequential" if model_index == 0 else f"sequential_{model_index}"


def keras_legacy_path(model_index, layer, kind):
    name = keras_layer_name(model_index, layer)
    return f"model_weights/{name}/{keras_scope(model_index)}/{name}/{'kernel' if kind == 'weight' else 'bias'}"


def keras3_path(model_index, layer, kind):
    return f"layers/{'dense' if layer == 0 else f'dense_{layer}'}/vars/{0 if kind == 'weight' else 1}"


def keras_weights(p, layer):
    name = MLP_LAYERS[layer]
    return np.ascontiguousarray(p[name + ".weight"].T), p[name + ".bias"]


def keras_config(model_index):
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 64], "dtype": "float32",
                                                      "name": f"input_layer_{model_index}" if model_index else "input_layer"}}]
    for layer, units in enumerate(MLP_SIZES[1:] + [10]):
        layers.append({"class_name": "Dense", "config": {"name": keras_layer_name(model_index, layer), "units": units,
                                                         "activation": "relu" if layer < 4 else "linear"}})
        if layer == 3:
            layers.append({"class_name": "Dropout", "config": {"name": f"dropout_{model_index}" if model_index else "dropout", "rate": 0.1}})
    return {"class_name": "Sequential", "config": {"name": keras_scope(model_index), "layers": layers}}


def write_keras_legacy(rel, p, model_index):
    path = os.path.join(HERE, rel)
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "numpy"
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["model_config"] = json.dumps(keras_config(model_index)).encode("utf8")
        weights = f.create_group("model_weights")
        names = [keras_layer_name(model_index, layer) for layer in range(len(MLP_LAYERS))]
        dropout = f"dropout_{model_index}" if model_index else "dropout"
        layer_names = names[:4] + [dropout] + names[4:]
        weights.attrs["backend"] = b"numpy"
        weights.attrs["keras_version"] = b"3.15.1"
        weights.attrs["layer_names"] = [n.encode() for n in layer_names]
        for name in layer_names:
            group = weights.create_group(name)
            if name == dropout:
                group.attrs["weight_names"] = np.asarray([])
                continue
            layer = names.index(name)
            kernel, bias = keras_weights(p, layer)
            scope = f"{keras_scope(model_index)}/{name}"
            group.attrs["weight_names"] = [f"{scope}/kernel".encode(), f"{scope}/bias".encode()]
            group.create_dataset(f"{scope}/kernel", data=kernel)
            group.create_dataset(f"{scope}/bias", data=bias)
        weights.create_group("top_level_model_weights").attrs["weight_names"] = np.asarray([])
        if model_index == 0:
            # What compile + fit leave behind: Adam's step counter, learning rate and moment estimates.
            optimizer = f.create_group("optimizer_weights")
            names_list = [b"adam/iteration", b"adam/learning_rate"]
            optimizer.create_dataset("adam/iteration", data=np.int32(1500))
            optimizer.create_dataset("adam/learning_rate", data=np.float32(3e-3))
            for layer in range(len(MLP_LAYERS)):
                for kind, array in zip(("kernel", "bias"), keras_weights(p, layer)):
                    for moment in ("momentum", "velocity"):
                        key = f"adam/sequential_{keras_layer_name(0, layer)}_{kind}_{moment}"
                        optimizer.create_dataset(key, data=np.zeros_like(array))
                        names_list.append(key.encode())
            optimizer.attrs["weight_names"] = names_list
    record_hdf5(rel)


def write_keras3(rel, p, model_index):
    path = os.path.join(HERE, rel)
    with h5py.File(path, "w") as f:
        layers = f.create_group("layers")
        for layer in range(len(MLP_LAYERS)):
            group = layers.create_group("dense" if layer == 0 else f"dense_{layer}").create_group("vars")
            group.attrs["name"] = keras_layer_name(model_index, layer)
            kernel, bias = keras_weights(p, layer)
            group.create_dataset("0", data=kernel)
            group.create_dataset("1", data=bias)
            if layer == 3:
                layers.create_group("dropout").create_group("vars").attrs["name"] = (
                    f"dropout_{model_index}" if model_index else "dropout")
        f.create_group("vars").attrs["name"] = keras_scope(model_index)
    record_hdf5(rel)


# --------------------------------------------------------------------------------------------- Transformer family

VOCAB, HIDDEN, LAYERS, HEADS, FFN, SEQ = 18, 32, 4, 4, 64, 64
HEAD_DIM = HIDDEN // HEADS
ROPE_THETA, RMS_EPS = 10000.0, 1e-6


def llama_config(tied):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB,
            "hidden_size": HIDDEN, "intermediate_size": FFN, "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS, "num_key_value_heads": HEADS, "head_dim": HEAD_DIM,
            "max_position_embeddings": SEQ + 1, "rms_norm_eps": RMS_EPS, "rope_theta": ROPE_THETA,
            "hidden_act": "silu", "tie_word_embeddings": tied, "attention_bias": False, "mlp_bias": False,
            "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "bfloat16" if tied else "float32"}


def rope_tables(length):
    inv_freq = 1.0 / ROPE_THETA ** (np.arange(0, HEAD_DIM, 2, dtype=np.float32) / HEAD_DIM)
    freqs = np.outer(np.arange(length, dtype=np.float32), inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(emb).astype(np.float32), np.sin(emb).astype(np.float32)


COS, SIN = rope_tables(SEQ)
CAUSAL = np.triu(np.full((SEQ, SEQ), -1e9, np.float32), k=1)


def rms_norm(x, w):
    return x / anp.sqrt(anp.mean(x * x, axis=-1, keepdims=True) + RMS_EPS) * w


def rotate_half(x):
    return anp.concatenate([-x[..., HEAD_DIM // 2:], x[..., :HEAD_DIM // 2]], axis=-1)


def llama_logits(p, tokens, lora=None, scale=0.0):
    batch, length = tokens.shape
    h = p["model.embed_tokens.weight"][tokens]
    for i in range(LAYERS):
        pre = f"model.layers.{i}."
        x = rms_norm(h, p[pre + "input_layernorm.weight"])

        def project(kind):
            w = p[pre + f"self_attn.{kind}_proj.weight"]
            out = anp.dot(x, w.T)
            key = f"base_model.model.{pre}self_attn.{kind}_proj"
            if lora is not None and key + ".lora_A.weight" in lora:
                out = out + scale * anp.dot(anp.dot(x, lora[key + ".lora_A.weight"].T), lora[key + ".lora_B.weight"].T)
            return anp.transpose(anp.reshape(out, (batch, length, HEADS, HEAD_DIM)), (0, 2, 1, 3))

        q, k, v = project("q"), project("k"), project("v")
        q = q * COS[:length] + rotate_half(q) * SIN[:length]
        k = k * COS[:length] + rotate_half(k) * SIN[:length]
        scores = anp.einsum("bhtd,bhsd->bhts", q, k) / np.sqrt(HEAD_DIM) + CAUSAL[:length, :length]
        scores = scores - anp.max(scores, axis=-1, keepdims=True)
        weights = anp.exp(scores)
        weights = weights / anp.sum(weights, axis=-1, keepdims=True)
        attended = anp.reshape(anp.transpose(anp.einsum("bhts,bhsd->bhtd", weights, v), (0, 2, 1, 3)), (batch, length, HIDDEN))
        h = h + anp.dot(attended, p[pre + "self_attn.o_proj.weight"].T)
        x = rms_norm(h, p[pre + "post_attention_layernorm.weight"])
        gate = anp.dot(x, p[pre + "mlp.gate_proj.weight"].T)
        up = anp.dot(x, p[pre + "mlp.up_proj.weight"].T)
        h = h + anp.dot(gate / (1 + anp.exp(-gate)) * up, p[pre + "mlp.down_proj.weight"].T)
    h = rms_norm(h, p["model.norm.weight"])
    head = p.get("lm_head.weight", p["model.embed_tokens.weight"])
    return anp.dot(h, head.T)


def lm_loss(p, tokens, lora=None, scale=0.0):
    logits = llama_logits(p, tokens[:, :-1], lora, scale)
    flat = anp.reshape(logits, (-1, VOCAB))
    return cross_entropy(flat, tokens[:, 1:].reshape(-1))


def init_llama(rng, tied):
    p = {"model.embed_tokens.weight": rng.normal(0, 0.3, (VOCAB, HIDDEN)).astype(np.float32),
         "model.norm.weight": np.ones(HIDDEN, np.float32)}
    if not tied:
        p["lm_head.weight"] = rng.normal(0, 0.1, (VOCAB, HIDDEN)).astype(np.float32)
    for i in range(LAYERS):
        pre = f"model.layers.{i}."
        for kind in "qkvo":
            p[pre + f"self_attn.{kind}_proj.weight"] = rng.normal(0, 0.1, (HIDDEN, HIDDEN)).astype(np.float32)
        p[pre + "mlp.gate_proj.weight"] = rng.normal(0, 0.1, (FFN, HIDDEN)).astype(np.float32)
        p[pre + "mlp.up_proj.weight"] = rng.normal(0, 0.1, (FFN, HIDDEN)).astype(np.float32)
        p[pre + "mlp.down_proj.weight"] = rng.normal(0, 0.1, (HIDDEN, FFN)).astype(np.float32)
        p[pre + "input_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        p[pre + "post_attention_layernorm.weight"] = np.ones(HIDDEN, np.float32)
    return p


def pixel_tokens(images):
    """BOS (0) then the 64 pixel intensities 0..16 as tokens 1..17, row by row."""
    return np.concatenate([np.zeros((len(images), 1), np.int64), images.reshape(len(images), -1).astype(np.int64) + 1], 1)


def bf16_bits(array):
    """float32 → bfloat16 bit patterns (round to nearest even), as uint16."""
    bits = array.astype(np.float32).view(np.uint32)
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return (rounded >> 16).astype(np.uint16)


def save_hf_dir(rel, p, tied=False, shards=None, dtype_bf16=False):
    directory = os.path.join(HERE, rel)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(llama_config(tied), f, indent=2, sort_keys=True)
        f.write("\n")
    if dtype_bf16:
        # numpy has no bfloat16: write the bit patterns as U16 with the reference writer, then relabel them BF16
        # and re-serialise the header as the reference writer does (compact JSON, spaces up to a multiple of 8).
        # U16 and BF16 sort next to each other and all tensors share the dtype, so the data order is unchanged.
        bits = {k: bf16_bits(v) for k, v in p.items()}
        path = os.path.join(directory, "model.safetensors")
        stnp.save_file(bits, path, metadata={"format": "pt"})
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n), object_pairs_hook=dict)
            data = f.read()
        for name, entry in header.items():
            if name != "__metadata__":
                entry["dtype"] = "BF16"
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * ((8 - len(text) % 8) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + data)
        record_safetensors(rel, {k: v.view("V2") for k, v in bits.items()})
        return
    if shards is None:
        stnp.save_file(p, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    else:
        # As huggingface_hub splits: tensors in state-dict order, a new shard when the next would pass the limit.
        groups, current, size = [], [], 0
        for name in p:
            if current and size + p[name].nbytes > shards:
                groups.append(current)
                current, size = [], 0
            current.append(name)
            size += p[name].nbytes
        groups.append(current)
        weight_map = {}
        for index, names in enumerate(groups):
            shard = f"model-{index + 1:05d}-of-{len(groups):05d}.safetensors"
            stnp.save_file({k: p[k] for k in names}, os.path.join(directory, shard), metadata={"format": "pt"})
            weight_map.update({k: shard for k in names})
        index_json = {"metadata": {"total_parameters": int(sum(a.size for a in p.values())),
                                   "total_size": int(sum(a.nbytes for a in p.values()))},
                      "weight_map": weight_map}
        with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
            f.write(json.dumps(index_json, indent=2, sort_keys=True) + "\n")
    record_safetensors(rel, p)


def state_dict_order(p):
    """transformers' state-dict order: embeddings, layers in order, final norm, head."""
    def key(name):
        if name.startswith("model.layers."):
            return (1, int(name.split(".")[2]), name)
        return ({"model.embed_tokens.weight": 0, "model.norm.weight": 2, "lm_head.weight": 3}[name], 0, name)
    return {k: p[k] for k in sorted(p, key=key)}


def make_transformer_family(rng):
    digits = load_digits()
    low = pixel_tokens(digits.images[digits.target < 5])
    high = pixel_tokens(digits.images[digits.target >= 5])
    rotated = pixel_tokens(np.rot90(digits.images, k=1, axes=(1, 2))[digits.target >= 5])

    def batches(data):
        return lambda step: data[rng.integers(0, len(data), 32)]

    loss = lambda p, batch: lm_loss(p, batch)
    evaluate = lambda p, data: float(lm_loss(p, data[:200]))

    base = init_llama(rng, tied=False)
    base = adam(base, list(base), loss, 600, 3e-3, batches(low))
    TRUTH["training"]["transformer/tiny-llama-base"] = {
        "task": "next-pixel prediction on digits 0-4", "eval_loss_digits_0_4": evaluate(base, low),
        "eval_loss_digits_5_9": evaluate(base, high)}
    save_hf_dir("transformer/tiny-llama-base", state_dict_order(base))

    fine_tunes = {"tiny-llama-ft-sharded": 2, "tiny-llama-ft-top": 3}
    for name, frozen_layers in fine_tunes.items():
        frozen_prefixes = ["model.embed_tokens."] + [f"model.layers.{i}." for i in range(frozen_layers)]
        trainable = [k for k in base if not any(k.startswith(f) for f in frozen_prefixes)]
        tuned = adam(dict(base), trainable, loss, 300, 2e-3, batches(high))
        TRUTH["training"]["transformer/" + name] = {
            "task": "next-pixel prediction on digits 5-9", "frozen": "embeddings and layers 0.." + str(frozen_layers - 1),
            "eval_loss_digits_5_9": evaluate(tuned, high)}
        rel = "transformer/" + name
        save_hf_dir(rel, state_dict_order(tuned), shards=90_000 if "sharded" in name else None)
        frozen(rel, "transformer/tiny-llama-base",
               [(k, k) for k in base if any(k.startswith(f) for f in frozen_prefixes)])

    tied = init_llama(rng, tied=True)
    tied = adam(tied, list(tied), loss, 300, 3e-3, batches(low))
    TRUTH["training"]["transformer/tiny-llama-tied-bf16"] = {
        "task": "next-pixel prediction on digits 0-4, tied input/output embeddings, stored as bfloat16",
        "eval_loss_digits_0_4": evaluate(tied, low)}
    save_hf_dir("transformer/tiny-llama-tied-bf16", state_dict_order(tied), tied=True, dtype_bf16=True)

    # LoRA adapters on the base (r = 4 on q_proj and v_proj), trained with the base frozen.
    rank, alpha = 4, 8
    for adapter, data, task in (("digits-5-9", high, "digits 5-9"), ("digits-rotated", rotated, "rotated digits 5-9")):
        lora = {}
        for i in range(LAYERS):
            for kind in "qv":
                key = f"base_model.model.model.layers.{i}.self_attn.{kind}_proj"
                lora[key + ".lora_A.weight"] = rng.uniform(-1, 1, (rank, HIDDEN)).astype(np.float32) / np.sqrt(HIDDEN)
                lora[key + ".lora_B.weight"] = np.zeros((HIDDEN, rank), np.float32)
        lora_loss = lambda l, batch: lm_loss(base, batch, l, alpha / rank)
        before = float(lm_loss(base, data[:200]))
        lora = adam(lora, list(lora), lora_loss, 300, 3e-3, batches(data))
        directory = os.path.join(HERE, "lora", adapter)
        os.makedirs(directory, exist_ok=True)
        stnp.save_file(lora, os.path.join(directory, "adapter_model.safetensors"), metadata={"format": "pt"})
        config = {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "../../transformer/tiny-llama-base",
                  "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
                  "layers_pattern": None, "layers_to_transform": None, "lora_alpha": alpha, "lora_dropout": 0.0,
                  "modules_to_save": None, "peft_type": "LORA", "r": rank, "rank_pattern": {}, "revision": None,
                  "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM", "use_dora": False,
                  "use_rslora": False}
        with open(os.path.join(directory, "adapter_config.json"), "w") as f:
            f.write(json.dumps(config, indent=2, sort_keys=True))
        record_safetensors(f"lora/{adapter}/adapter_model.safetensors", lora)
        TRUTH["training"]["lora/" + adapter] = {"task": task, "rank": rank, "alpha": alpha,
                                                "eval_loss_base_only": before,
                                                "eval_loss_with_adapter": float(lm_loss(base, data[:200], lora, alpha / rank))}


# -------------------------------------------------------------------------------------------- HDF5 feature sample

def make_hdf5_features(rng):
    os.makedirs(os.path.join(HERE, "hdf5"), exist_ok=True)
    rel = "hdf5/dtypes-and-layouts.h5"
    with h5py.File(os.path.join(HERE, rel), "w") as f:
        f.attrs["text_utf8"] = "naïve ✓ weights"
        f.attrs["fixed_strings"] = np.array([b"ab", b"c"])
        f.attrs["floats"] = np.array([1.5, 2.5], np.float64)
        f.attrs["count"] = np.int32(7)
        floats = f.create_group("floats")
        floats["f16"] = rng.normal(size=(3, 4)).astype(np.float16)
        floats["f32_big_endian"] = rng.normal(size=(5,)).astype(">f4")
        floats["f64"] = rng.normal(size=(2, 2)).astype(np.float64)
        bf16 = floats.create_dataset("bf16_keras", data=bf16_bits(rng.normal(size=(4, 2))).view("V2"))
        bf16.attrs["dtype"] = "bfloat16"
        ints = f.create_group("ints")
        ints["i8"] = rng.integers(-128, 127, size=(6,), dtype=np.int8)
        ints["u16"] = rng.integers(0, 65535, size=(2, 3), dtype=np.uint16)
        ints["i64"] = rng.integers(-2**62, 2**62, size=(3,), dtype=np.int64)
        ints["scalar_i32"] = np.int32(-42)
        f["mask"] = rng.integers(0, 2, size=(7,)).astype(bool)
        f["empty"] = np.zeros((0, 3), np.float32)
        layouts = f.create_group("layouts")
        layouts.create_dataset("chunked_gzip_shuffle", data=rng.normal(size=(50, 20)).astype(np.float32),
                               chunks=(16, 8), compression="gzip", compression_opts=6, shuffle=True)
        layouts.create_dataset("chunked_plain", data=np.arange(100, dtype=np.int16).reshape(10, 10), chunks=(3, 3))
        split = f.create_group("split_attributes")
        split.attrs["layer_names0"] = [b"a", b"b"]
        split.attrs["layer_names1"] = [b"c"]
    record_hdf5(rel)


# ------------------------------------------------------------------------------------------------- hostile files

def make_hostile():
    directory = os.path.join(HERE, "hostile")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    expected = {}

    def raw(name, data, code, fragment):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        expected[name] = {"code": code, "message_contains": fragment}

    def header(name, text, data, code, fragment, pad=True):
        blob = text.encode() if isinstance(text, str) else text
        raw(name, struct.pack("<Q", len(blob)) + blob + data, code, fragment)

    good = '{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'
    raw("empty.safetensors", b"", "too_short", "empty")
    raw("three-bytes.safetensors", b"\x01\x02\x03", "too_short", "too short")
    raw("header-past-eof.safetensors", struct.pack("<Q", 1000) + good.encode(), "header_past_end", "past the end")
    raw("huge-header-claim.safetensors", struct.pack("<Q", 1 << 40) + good.encode(), "header_too_large", "1099511627776")
    header("invalid-json.safetensors", '{"a": {"dtype": "F32", ', b"", "invalid_json", "not valid JSON")
    header("non-utf8.safetensors", b'{"\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4),
           "invalid_utf8", "UTF-8")
    header("not-an-object.safetensors", "[1, 2, 3]", b"", "invalid_header", "not an object")
    header("deep-nesting.safetensors", "[" * 100000 + "]" * 100000, b"", "invalid_json", "nesting")
    header("unknown-dtype.safetensors", '{"a":{"dtype":"F7","shape":[4],"data_offsets":[0,4]}}', bytes(4),
           "unknown_dtype", '"F7"')
    header("shape-mismatch.safetensors", '{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', bytes(12),
           "size_mismatch", 'tensor "a"')
    header("overlapping-offsets.safetensors",
           '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}',
           bytes(24), "overlapping_offsets", 'overlapping data_offsets for tensor "b"')
    header("reversed-offsets.safetensors", '{"a":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}', bytes(16),
           "reversed_offsets", 'tensor "a"')
    header("out-of-range-offsets.safetensors",
           '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,18446744073709551616]}}', bytes(16),
           "offset_out_of_range", 'tensor "a"')
    header("negative-offsets.safetensors", '{"a":{"dtype":"F32","shape":[4],"data_offsets":[-16,0]}}', bytes(16),
           "offset_out_of_range", 'tensor "a"')
    header("hole.safetensors",
           '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}}',
           bytes(40), "hole", 'tensor "b"')
    header("first-offset-not-zero.safetensors", '{"a":{"dtype":"F32","shape":[4],"data_offsets":[4,20]}}', bytes(20),
           "hole", 'tensor "a"')
    header("duplicate-names.safetensors",
           '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}',
           bytes(32), "duplicate_name", '"a"')
    header("truncated-data.safetensors", good, bytes(10), "truncated", "truncated")
    header("trailing-bytes.safetensors", good, bytes(20), "trailing_bytes", "4 bytes after the last tensor")
    header("metadata-not-string.safetensors",
           '{"__metadata__":{"format":1},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}', bytes(16),
           "invalid_header", "__metadata__")
    header("shape-overflow.safetensors",
           '{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}', bytes(16),
           "size_mismatch", "overflows")
    # A real file cut short, as an interrupted download leaves it.
    with open(os.path.join(HERE, "mlp", "mlp-base.safetensors"), "rb") as f:
        whole = f.read()
    raw("mlp-base-cut.safetensors", whole[: len(whole) // 2], "truncated", "truncated")
    raw("hdf5-signature-then-garbage.h5", b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4, "hdf5", "HDF5")
    with open(os.path.join(HERE, "mlp", "mlp-base.h5"), "rb") as f:
        whole = f.read()
    raw("mlp-base-cut.h5", whole[: len(whole) // 3], "hdf5", "HDF5")

    # Sharded checkpoints whose index lies.
    def sharded(name, weight_map, code, fragment):
        d = os.path.join(directory, name)
        os.makedirs(d)
        stnp.save_file({"a": np.zeros(2, np.float32)}, os.path.join(d, "model-00001-of-00002.safetensors"))
        stnp.save_file({"b": np.zeros(2, np.float32)}, os.path.join(d, "model-00002-of-00002.safetensors"))
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 16}, "weight_map": weight_map}, f, indent=2)
        expected[name] = {"code": code, "message_contains": fragment}

    sharded("index-wrong-shard", {"a": "model-00002-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
            "shard_mismatch", '"a"')
    sharded("index-lists-absent-tensor", {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
                                          "c": "model-00001-of-00002.safetensors"}, "shard_mismatch", '"c"')
    sharded("index-ignores-a-shard", {"a": "model-00001-of-00002.safetensors"}, "shard_mismatch",
            "model-00002-of-00002.safetensors")
    sharded("index-missing-shard", {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
                                    "c": "model-00003-of-00003.safetensors"}, "io", "model-00003-of-00003.safetensors")
    sharded("index-path-escape", {"a": "../model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
            "invalid_header", "not a file name")
    with open(os.path.join(directory, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    rng = np.random.default_rng(SEED)
    make_mlp_family(rng)
    make_transformer_family(rng)
    make_hdf5_features(rng)
    make_hostile()
    # Files Keras 3 wrote itself (make_keras3_sample.py, which needs Keras): recorded here too, so that remaking the
    # other samples keeps their truth.
    keras3 = os.path.join(HERE, "keras3")
    for name in sorted(os.listdir(keras3)) if os.path.isdir(keras3) else []:
        if name.endswith(".weights.h5"):
            record_hdf5("keras3/" + name)
    previous = os.path.join(HERE, "truth.json")
    if os.path.exists(previous):
        with open(previous) as f:
            kept = json.load(f).get("training", {})
        TRUTH["training"].update({k: v for k, v in kept.items() if k.startswith("keras3/")})
    TRUTH["generator"] = {"script": "samples/make_samples.py", "seed": SEED, "python": sys.version.split()[0],
                          "numpy": np.__version__, "scikit-learn": sklearn.__version__, "h5py": h5py.__version__,
                          "hdf5": h5py.version.hdf5_version, "safetensors": safetensors.__version__,
                          "xxhash": xxhash.VERSION, "data_set": "sklearn.datasets.load_digits (1797 8x8 images)"}
    with open(os.path.join(HERE, "truth.json"), "w") as f:
        json.dump(TRUTH, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(HERE) for n in names)
    print(f"samples written: {total / 1e6:.2f} MB in all")


if __name__ == "__main__":
    main()
