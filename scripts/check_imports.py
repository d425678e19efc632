#!/usr/bin/env python3
"""Checks the module graph of Package.swift against the code.

1. Every module a target's files import is one it declares (directly), a system module, or a module of a declared
   product; a module that is reachable only transitively does not count.
2. The project's library targets depend one way, by layer (docs/architecture.md): a target may depend only on
   targets of a lower layer or of its own layer's earlier members.
3. The C modules are imported by their one wrapper module only.
4. The module graph in docs/architecture.md (between its `<!-- module-graph -->` markers) and the module table of
   README.md name exactly the targets and dependencies of Package.swift. `--graph` prints the graph to paste.

Run from the package root: `python3 scripts/check_imports.py`. Exits 1 and lists every violation.
"""
import json
import os
import re
import subprocess
import sys

# The layers of docs/architecture.md, lowest first. A target may use targets of lower layers; within a layer,
# only those listed before it.
LAYERS = [
    ["CHDF5", "CZstd", "CXXHash", "COpenBLAS"],
    ["HDF5", "Zstd", "XXHash", "BLAS"],
    ["PBRCore"],
    ["TensorFiles", "OCI"],
    ["ParameterBlocks", "PBManifest", "ManifestSynthesis", "RegistryClient"],
    ["BlockStore", "EdgeSim", "NeuralKit"],
    ["Trainer", "FuzzHarnesses", "Distribution"],
    ["EdgeNode"],
    ["pbrepo", "PBRepoFuzz"],
]
C_WRAPPERS = {"CHDF5": "HDF5", "CZstd": "Zstd", "CXXHash": "XXHash", "COpenBLAS": "BLAS"}
SYSTEM = {"Foundation", "FoundationEssentials", "Glibc", "Dispatch", "Synchronization", "Testing", "XCTest", "_Concurrency"}
# Modules a product brings (product name -> modules).
PRODUCT_MODULES = {"Numerics": {"Numerics", "RealModule", "ComplexModule"}}

IMPORT = re.compile(r"^\s*(?:@testable\s+|@_exported\s+)?(?:public\s+|package\s+|internal\s+|private\s+|fileprivate\s+)?import\s+(?:struct\s+|class\s+|enum\s+|func\s+)?([A-Za-z_][A-Za-z0-9_]*)", re.M)


def graph(package) -> str:
    """The library and executable targets and their project dependencies, as a Mermaid flowchart."""
    names = {t["name"] for t in package["targets"] if t["type"] not in ("test",) and t["name"] != "TestSupport"}
    lines = ["```mermaid", "flowchart BT"]
    for layer in LAYERS:
        for name in layer:
            if name not in names:
                continue
            target = next(t for t in package["targets"] if t["name"] == name)
            for dependency in target["dependencies"]:
                if "byName" in dependency and dependency["byName"][0] in names:
                    lines.append(f"    {name} --> {dependency['byName'][0]}")
    lines.append("```")
    return "\n".join(lines)


def documented(package, problems):
    text = open("docs/architecture.md", encoding="utf-8").read()
    marker = "<!-- module-graph -->"
    parts = text.split(marker)
    if len(parts) != 3 or parts[1].strip() != graph(package).strip():
        problems.append("docs/architecture.md: the module graph differs from Package.swift (scripts/check_imports.py --graph)")
    readme = open("README.md", encoding="utf-8").read()
    section = readme.split("## Modules", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([A-Za-z0-9]+)`", "".join(l.split("|")[1] for l in section.splitlines() if l.startswith("| `"))))
    targets = {t["name"] for t in package["targets"] if t["type"] != "test" and t["name"] != "TestSupport"}
    for name in sorted(targets - listed):
        problems.append(f"README.md: the module table lacks {name}")
    for name in sorted(listed - targets):
        problems.append(f"README.md: the module table lists {name}, which Package.swift does not have")


def main() -> int:
    package = json.loads(subprocess.run(["swift", "package", "dump-package"], capture_output=True, text=True, check=True).stdout)
    if "--graph" in sys.argv:
        print(graph(package))
        return 0
    layer_of = {name: index for index, layer in enumerate(LAYERS) for name in layer}
    problems = []
    for target in package["targets"]:
        name, kind = target["name"], target["type"]
        if kind == "system":
            continue
        path = target.get("path") or os.path.join("Tests" if kind == "test" else "Sources", name)
        declared = set()
        for dependency in target["dependencies"]:
            if "byName" in dependency:
                declared.add(dependency["byName"][0])
            elif "product" in dependency:
                product = dependency["product"][0]
                declared |= PRODUCT_MODULES.get(product, {product})
            elif "target" in dependency:
                declared.add(dependency["target"][0])
        imported = {}
        for root, _, files in os.walk(path):
            for file in files:
                if file.endswith(".swift"):
                    text = open(os.path.join(root, file), encoding="utf-8").read()
                    for module in IMPORT.findall(text):
                        imported.setdefault(module, os.path.join(root, file))
        for module, where in sorted(imported.items()):
            if module in SYSTEM or module == name:
                continue
            if module not in declared:
                problems.append(f"{where}: imports {module}, which target {name} does not declare")
            if module in C_WRAPPERS and C_WRAPPERS[module] != name:
                problems.append(f"{where}: imports the C module {module}; only {C_WRAPPERS[module]} may")
        if kind == "test" or name not in layer_of:
            continue
        for dependency in sorted(d for d in declared if d in layer_of):
            mine, theirs = layer_of[name], layer_of[dependency]
            same_layer_earlier = mine == theirs and LAYERS[mine].index(dependency) < LAYERS[mine].index(name)
            if theirs > mine or (theirs == mine and not same_layer_earlier):
                problems.append(f"Package.swift: {name} depends on {dependency}, against the layering")
    documented(package, problems)
    for problem in problems:
        print(problem)
    print(f"module graph: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
