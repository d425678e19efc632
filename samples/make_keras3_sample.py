#!/usr/bin/env python3
"""Makes samples/keras3/: a model saved by Keras 3 itself, with its optimizer, so that pbrepo is tested on what Keras
writes and not only on files shaped like it (make_samples.py writes those with h5py).

    python3 -m venv /tmp/k && /tmp/k/bin/pip install -r samples/requirements.txt -r samples/requirements-keras.txt
    KERAS_BACKEND=jax /tmp/k/bin/python samples/make_keras3_sample.py

digits-adam: Dense 64→16 (relu) →10 trained with Adam for 3 epochs on scikit-learn's digits, saved twice:
  digits-adam.weights.h5   model.save_weights: layers/dense/vars/0 …, optimizer/vars/0 (the iteration count, a
                           rank-0 int32 dataset), optimizer/vars/1 (the learning rate, rank-0 float32), the moments
  digits-adam.keras        model.save: a zip of config.json, metadata.json and model.weights.h5 (pbrepo names it
                           and stores it as a plain file)
truth.json gets the .weights.h5 file's tensors as h5py reads them (shape () for the scalars), as make_samples.py
records every HDF5 sample.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import make_samples  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    keras.utils.set_random_seed(make_samples.SEED % 2**31)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    directory = os.path.join(HERE, "keras3")
    os.makedirs(directory, exist_ok=True)
    model.save_weights(os.path.join(directory, "digits-adam.weights.h5"))
    model.save(os.path.join(directory, "digits-adam.keras"))

    path = os.path.join(HERE, "truth.json")
    with open(path) as f:
        truth = json.load(f)
    make_samples.TRUTH.update(truth)
    make_samples.record_hdf5("keras3/digits-adam.weights.h5")
    make_samples.TRUTH["training"]["keras3/digits-adam"] = {
        "task": "digits", "epochs": 3, "train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "keras": keras.__version__, "backend": keras.backend.backend()}
    with open(path, "w") as f:
        json.dump(make_samples.TRUTH, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote samples/keras3/ and its truth")


if __name__ == "__main__":
    main()
