#!/usr/bin/env python3
"""Distribution benchmark (issue 14): pull, push and `pbrepo serve` beside the peers the issue names, in one run.

Not part of CI. One command reproduces every figure of docs/benchmarks.md's distribution section:

    make bench-distribution          # = scripts/bench_distribution.py --pbrepo .build/release/pbrepo

It installs what is missing (docker-registry, skopeo, nginx, wrk, curl, openssl: Debian's packages), generates a
model of --size-mib MiB (float32 weights, normal, seeded: what a checkpoint's bytes look like to zstd), starts
docker-registry 2.8.2 on loopback, and measures, alternating the contenders in each round and reporting medians of
--repeat rounds with the load average:

1. pull + verify + assemble of the model from the registry (`pbrepo pull -o`, a new store each time) against
   `curl | openssl dgst -sha256` of the same blobs, one after another (what a client that checks what it downloads
   must do at least), and against `skopeo copy docker://… oci:DIR` of the same artifact; pbrepo's peak RSS.
2. push of the model into an empty repository against `curl -T` of the same blobs (monolithic PUTs).
3. a warm 1 GiB blob from `pbrepo serve` against nginx (sendfile on) serving the same file.
4. 4 KiB blobs with keep-alive (wrk, one connection... four): requests per second from the edge and the registry.
5. three clients missing the same 256 MiB blob at once: upstream GETs of an edge against 2.8.2's proxy mode.
"""

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np

PACKAGES = ["docker-registry", "skopeo", "nginx-light", "wrk", "curl", "openssl"]


def install_missing():
    missing = [p for p in PACKAGES if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing, check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def registry(work, name, proxy=None):
    root = os.path.join(work, name)
    os.makedirs(root + "/data", exist_ok=True)
    port = free_port()
    config = (f"version: 0.1\nlog: {{level: error, accesslog: {{disabled: false}}}}\n"
              f"storage: {{filesystem: {{rootdirectory: {root}/data}}, delete: {{enabled: true}}}}\n"
              f"http: {{addr: 127.0.0.1:{port}}}\n")
    if proxy:
        config += f"proxy: {{remoteurl: \"{proxy}\"}}\n"
    open(root + "/config.yml", "w").write(config)
    log = open(root + "/access.log", "w")
    process = subprocess.Popen(["/usr/bin/docker-registry", "serve", root + "/config.yml"], stdout=log, stderr=log)
    wait_port(port)
    return process, f"127.0.0.1:{port}", root + "/access.log"


def serve(pbrepo, store, upstream):
    process = subprocess.Popen([pbrepo, "serve", "--store", store, "--listen", "127.0.0.1:0", "--upstream",
                                "http://" + upstream, "--log-level", "error"], stdout=subprocess.PIPE)
    line = process.stdout.readline().decode()
    port = int(line.strip().rsplit(":", 1)[1])
    return process, f"127.0.0.1:{port}"


def timed(command, **kwargs):
    start = time.perf_counter()
    subprocess.run(command, check=True, **kwargs)
    return time.perf_counter() - start


def peak_rss(command):
    """Peak RSS of one command, in bytes (run in a fresh child so that earlier children do not count)."""
    script = ("import resource,subprocess,sys;subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL);"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss*1024)")
    return int(subprocess.run([sys.executable, "-c", script] + command, check=True, capture_output=True,
                              text=True).stdout)


def write_model(path, mib, seed=14):
    """float32 tensors of 64 MiB (normal, std 0.02), safetensors layout."""
    rng = np.random.default_rng(seed)
    count = max(1, mib // 64)
    elements = 64 << 18
    header, offset = {}, 0
    for i in range(count):
        header[f"layers.{i}.weight"] = {"dtype": "F32", "shape": [elements // 4096, 4096],
                                        "data_offsets": [offset, offset + elements * 4]}
        offset += elements * 4
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _ in range(count):
            f.write((rng.standard_normal(elements, dtype=np.float32) * 0.02).tobytes())


def manifest(host, repository, tag):
    request = urllib.request.Request(f"http://{host}/v2/{repository}/manifests/{tag}",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    return json.load(urllib.request.urlopen(request))


def put_blob(host, repository, path):
    """Monolithic POST + PUT with curl; returns the digest."""
    digest = "sha256:" + subprocess.run(["sha256sum", path], capture_output=True, text=True).stdout.split()[0]
    location = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", "-X", "POST",
                               f"http://{host}/v2/{repository}/blobs/uploads/"], capture_output=True,
                              text=True).stdout
    url = re.search(r"(?im)^location: (\S+)", location).group(1)
    if url.startswith("/"):
        url = f"http://{host}{url}"
    url += ("&" if "?" in url else "?") + "digest=" + digest
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-T", path, "-H", "Content-Type: application/octet-stream",
                    url], check=True)
    return digest


def blob_gets(log_path, digest, since):
    lines = open(log_path).read().splitlines()[since:]
    return sum(1 for line in lines if f"GET /v2/" in line and digest in line)


def median(values):
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pbrepo", default=".build/release/pbrepo")
    parser.add_argument("--work", default=None)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    install_missing()
    pbrepo = os.path.abspath(args.pbrepo)
    work = args.work or tempfile.mkdtemp(prefix="pbrepo-bench-dist.", dir=os.environ.get("TMPDIR", "/var/tmp"))
    os.makedirs(work, exist_ok=True)
    processes = []
    results = {"load_average_start": os.getloadavg(), "size_mib": args.size_mib, "repeat": args.repeat}
    try:
        model = os.path.join(work, "bench-model.safetensors")
        write_model(model, args.size_mib)
        origin_store = os.path.join(work, "origin")
        subprocess.run([pbrepo, "ingest", "--no-progress", "--store", origin_store, model], check=True,
                       stdout=subprocess.DEVNULL)
        process, host, access_log = registry(work, "registry")
        processes.append(process)
        reference = f"{host}/bench/model:v1"
        subprocess.run([pbrepo, "push", "--no-progress", "--store", origin_store, "--plain-http", "bench-model", reference],
                       check=True, stdout=subprocess.DEVNULL)
        document = manifest(host, "bench/model", "v1")
        blobs = [document["config"]] + document["layers"]
        artifact = sum(b["size"] for b in blobs)
        results["artifact_bytes"] = artifact
        results["layers"] = len(document["layers"])

        # 1. pull + verify + assemble, curl | openssl, skopeo copy: alternating.
        pull, curl, skopeo, rss = [], [], [], []
        for round_ in range(args.repeat):
            store = os.path.join(work, f"pull-{round_}")
            out = os.path.join(work, f"out-{round_}.safetensors")
            command = [pbrepo, "pull", "--no-progress", "--store", store, "--plain-http", reference, "-o", out]
            subprocess.run(["sync"])
            pull.append(timed(command, stdout=subprocess.DEVNULL))
            shutil.rmtree(store)
            os.remove(out)
            rss.append(peak_rss(command))
            shutil.rmtree(store)
            os.remove(out)
            subprocess.run(["sync"])
            start = time.perf_counter()
            for blob in blobs:
                url = f"http://{host}/v2/bench/model/blobs/{blob['digest']}"
                got = subprocess.run(f"curl -s {url} | openssl dgst -sha256", shell=True, check=True,
                                     capture_output=True, text=True).stdout
                assert blob["digest"].split(":")[1] in got, got
            curl.append(time.perf_counter() - start)
            layout = os.path.join(work, f"oci-{round_}")
            subprocess.run(["sync"])
            skopeo.append(timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{reference}",
                                 f"oci:{layout}:v1"], stdout=subprocess.DEVNULL))
            shutil.rmtree(layout)
        results["pull"] = {
            "pbrepo_pull_verify_assemble_s": median(pull), "curl_openssl_s": median(curl),
            "skopeo_copy_s": median(skopeo),
            "pbrepo_MBps": artifact / median(pull) / 1e6, "curl_openssl_MBps": artifact / median(curl) / 1e6,
            "skopeo_MBps": artifact / median(skopeo) / 1e6, "ratio_to_curl_openssl": median(curl) / median(pull),
            "pbrepo_peak_rss_MiB": max(rss) / 2**20, "runs": {"pbrepo": pull, "curl": curl, "skopeo": skopeo},
        }

        # 2. push into an empty repository against curl -T of the same blobs (monolithic).
        push, curl_put = [], []
        blob_files = []
        for blob in blobs:
            path = os.path.join(work, "blob-" + blob["digest"].split(":")[1])
            subprocess.run(f"curl -s -o {path} http://{host}/v2/bench/model/blobs/{blob['digest']}", shell=True,
                           check=True)
            blob_files.append(path)
        for round_ in range(args.repeat):
            process, fresh, _ = registry(work, f"push-registry-{round_}")
            processes.append(process)
            push.append(timed([pbrepo, "push", "--no-progress", "--store", origin_store, "--plain-http", "bench-model",
                               f"{fresh}/bench/model:v1"], stdout=subprocess.DEVNULL))
            start = time.perf_counter()
            for path in blob_files:
                put_blob(fresh, "bench/curl", path)
            curl_put.append(time.perf_counter() - start)
            process.terminate()
            process.wait()
            shutil.rmtree(os.path.join(work, f"push-registry-{round_}"))
        results["push"] = {"pbrepo_push_s": median(push), "curl_put_s": median(curl_put),
                           "pbrepo_MBps": artifact / median(push) / 1e6,
                           "curl_put_MBps": artifact / median(curl_put) / 1e6}
        for path in blob_files:
            os.remove(path)

        # 3. A warm 1 GiB blob: pbrepo serve against nginx (sendfile) serving the same file.
        big = os.path.join(work, "big.bin")
        subprocess.run(["head", "-c", str(1 << 30), "/dev/urandom"], stdout=open(big, "wb"), check=True)
        big_digest = put_blob(host, "bench/big", big)
        os.remove(big)
        edge_store = os.path.join(work, "edge")
        edge, edge_host = serve(pbrepo, edge_store, host)
        processes.append(edge)
        edge_url = f"http://{edge_host}/v2/bench/big/blobs/{big_digest}"
        subprocess.run(["curl", "-s", "-o", "/dev/null", edge_url], check=True)
        served_file = os.path.join(edge_store, "edge", "blobs", big_digest.split(":")[1])
        nginx_port = free_port()
        nginx_root = os.path.join(work, "nginx")
        os.makedirs(nginx_root, exist_ok=True)
        os.link(served_file, os.path.join(nginx_root, "big.bin"))
        open(os.path.join(work, "nginx.conf"), "w").write(
            ("user root;\n" if os.geteuid() == 0 else "") +
            f"daemon off; worker_processes 2; pid {work}/nginx.pid; error_log {work}/nginx.err;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{ access_log off; sendfile on; tcp_nopush on; client_body_temp_path {work}/nginx-tmp;\n"
            f"  proxy_temp_path {work}/nginx-tmp; fastcgi_temp_path {work}/nginx-tmp; uwsgi_temp_path {work}/nginx-tmp;"
            f" scgi_temp_path {work}/nginx-tmp;\n"
            f"  server {{ listen 127.0.0.1:{nginx_port}; root {nginx_root}; }} }}\n")
        nginx = subprocess.Popen(["nginx", "-c", os.path.join(work, "nginx.conf")])
        processes.append(nginx)
        wait_port(nginx_port)
        nginx_url = f"http://127.0.0.1:{nginx_port}/big.bin"
        edge_times, nginx_times = [], []

        def fetch(url):
            start = time.perf_counter()
            got = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url],
                                 capture_output=True, text=True, check=True).stdout
            assert got == f"200 {1 << 30}", f"{url}: {got}"
            return time.perf_counter() - start

        for _ in range(max(5, args.repeat)):
            edge_times.append(fetch(edge_url))
            nginx_times.append(fetch(nginx_url))
        results["serve_1GiB"] = {"pbrepo_serve_MBps": (1 << 30) / median(edge_times) / 1e6,
                                 "nginx_sendfile_MBps": (1 << 30) / median(nginx_times) / 1e6,
                                 "ratio_to_nginx": median(nginx_times) / median(edge_times)}

        # 4. 4 KiB blobs, keep-alive: wrk over one blob list, edge (warm) against the registry.
        small = []
        for i in range(200):
            path = os.path.join(work, "small.bin")
            open(path, "wb").write(os.urandom(4096))
            small.append(put_blob(host, "bench/small", path))
        for digest in small:
            urllib.request.urlopen(f"http://{edge_host}/v2/bench/small/blobs/{digest}").read()
        script = os.path.join(work, "small.lua")
        open(script, "w").write(
            "paths = {" + ",".join(f'"/v2/bench/small/blobs/{d}"' for d in small) + "}\n"
            "i = 0\nrequest = function() i = i + 1; return wrk.format(\"GET\", paths[(i % #paths) + 1]) end\n")
        rates = {}
        for name, target in (("pbrepo_serve", edge_host), ("registry", host)):
            out = subprocess.run(["wrk", "-t1", "-c4", "-d5s", "-s", script, f"http://{target}"],
                                 capture_output=True, text=True, check=True).stdout
            rates[name] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        results["small_blobs_4KiB"] = {"pbrepo_serve_rps": rates["pbrepo_serve"], "registry_rps": rates["registry"],
                                       "ratio": rates["pbrepo_serve"] / rates["registry"],
                                       "client": "wrk -t1 -c4 (keep-alive)"}

        # 5. Three clients missing one 256 MiB blob at once: upstream GETs, edge against 2.8.2's proxy.
        medium = os.path.join(work, "medium.bin")
        subprocess.run(["head", "-c", str(256 << 20), "/dev/urandom"], stdout=open(medium, "wb"), check=True)
        medium_digest = put_blob(host, "bench/medium", medium)
        os.remove(medium)
        proxy, proxy_host, _ = registry(work, "proxy", proxy=f"http://{host}")
        processes.append(proxy)
        counts = {}
        for name, target in (("pbrepo_serve", edge_host), ("registry_proxy", proxy_host)):
            mark = len(open(access_log).read().splitlines())
            threads = [threading.Thread(target=lambda: subprocess.run(
                ["curl", "-s", "-o", "/dev/null", f"http://{target}/v2/bench/medium/blobs/{medium_digest}"]))
                for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            time.sleep(1)  # the proxy's background copy finishes after its clients
            counts[name] = blob_gets(access_log, medium_digest, mark)
        results["single_flight_upstream_gets"] = counts
        results["load_average_end"] = os.getloadavg()
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    pull = results["pull"]
    print(f"load average at start {results['load_average_start']}, at end {results['load_average_end']}")
    print(f"model {args.size_mib} MiB → artifact {results['artifact_bytes'] / 1e6:.0f} MB in {results['layers']} "
          f"layers; medians of {args.repeat}")
    print(f"pull+verify+assemble {pull['pbrepo_MBps']:.0f} MB/s, curl|openssl {pull['curl_openssl_MBps']:.0f} MB/s "
          f"(ratio {pull['ratio_to_curl_openssl']:.2f}), skopeo copy {pull['skopeo_MBps']:.0f} MB/s; "
          f"peak RSS {pull['pbrepo_peak_rss_MiB']:.0f} MiB")
    push = results["push"]
    print(f"push {push['pbrepo_MBps']:.0f} MB/s, curl -T {push['curl_put_MBps']:.0f} MB/s")
    s = results["serve_1GiB"]
    print(f"warm 1 GiB blob: pbrepo serve {s['pbrepo_serve_MBps']:.0f} MB/s, nginx {s['nginx_sendfile_MBps']:.0f} MB/s "
          f"(ratio {s['ratio_to_nginx']:.2f})")
    r = results["small_blobs_4KiB"]
    print(f"4 KiB blobs: pbrepo serve {r['pbrepo_serve_rps']:.0f} req/s, registry {r['registry_rps']:.0f} req/s "
          f"(×{r['ratio']:.1f})")
    print(f"three concurrent misses of a 256 MiB blob → upstream GETs {results['single_flight_upstream_gets']}")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
