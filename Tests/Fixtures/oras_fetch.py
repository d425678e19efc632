"""Fetches a manifest and every blob it names with the Python ORAS client (oras-py), as another client would.

    oras_fetch.py HOST:PORT REPOSITORY TAG OUTDIR

Prints JSON: {"manifest": the manifest, "blobs": {digest: sha256 of the file oras wrote}}. Plain HTTP.
"""
import hashlib
import json
import os
import sys

import oras.provider

host, repository, tag, outdir = sys.argv[1:5]
registry = oras.provider.Registry(hostname=host, insecure=True)
container = f"{host}/{repository}:{tag}"
manifest = registry.get_manifest(container)
blobs = {}
for descriptor in [manifest["config"]] + manifest["layers"]:
    path = os.path.join(outdir, descriptor["digest"].split(":")[1])
    registry.download_blob(container, descriptor["digest"], path)
    with open(path, "rb") as file:
        blobs[descriptor["digest"]] = "sha256:" + hashlib.sha256(file.read()).hexdigest()
print(json.dumps({"manifest": manifest, "blobs": blobs}))
