#!/usr/bin/env python3
"""A registry that lies, for the tests of pbrepo's client (Tests/PBRepoCLITests/HostileRegistryTests.swift).

Started on a free loopback port, it prints the port and answers `/v2/` honestly; what it does with a request
depends on the repository's first component:

- loop/…     every request is redirected to itself (302)
- slow/…     manifest: headers and 10 bytes of a 1000-byte body, then silence for 120 s
- liar/…     manifest of a pbrepo model whose model-index blob is announced with 500 bytes and sent with 100
- digest/…   manifest of a pbrepo model whose model-index blob is sent whole but is other bytes
- huge/…     manifest that grows without end: a layer list naming 10⁶ blobs (about 150 MB)
- many/…     a manifest under 4 MiB whose layer list names 25,000 blobs
- fail/…     500 to everything
"""

import hashlib
import http.server
import json
import socketserver
import sys
import time

INDEX = json.dumps({"schema": "pbrepo.model-index/v1", "record": {}, "objects": []}).encode()
WRONG = b"x" * len(INDEX)
RECIPE = b"{}"


def descriptor(media_type, data):
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def model_manifest():
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.pbrepo.model.v1",
        "config": descriptor("application/vnd.pbrepo.recipe.v1+json", RECIPE),
        "layers": [descriptor("application/vnd.pbrepo.model-index.v1+json", INDEX)],
    }).encode()


def layer(i):
    return {"mediaType": "application/vnd.pbrepo.object.v1.raw", "digest": "sha256:" + ("%064x" % i), "size": 48}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", content_type="application/json", length=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in ("/v2", "/v2/"):
            return self.send(200, b"{}")
        kind = path[4:].split("/")[0]
        manifest = "/manifests/" in path
        if kind == "loop":
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "fail":
            self.send(500, b'{"errors":[{"code":"UNKNOWN","message":"broken"}]}')
        elif kind == "slow" and manifest:
            self.send(200, b"{" + b" " * 9, "application/vnd.oci.image.manifest.v1+json", length=1000)
            self.wfile.flush()
            time.sleep(120)
        elif kind in ("liar", "digest") and manifest:
            self.send(200, model_manifest(), "application/vnd.oci.image.manifest.v1+json")
        elif kind == "liar" and "/blobs/" in path:
            self.send(200, INDEX[:100], "application/octet-stream", length=500)
            self.wfile.flush()
            self.close_connection = True
        elif kind == "digest" and "/blobs/" in path:
            self.send(200, WRONG, "application/octet-stream")
        elif kind == "huge" and manifest:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            def chunk(data):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            chunk(b'{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:' + b"0" * 64 + b'","size":1},"layers":[')
            try:
                for start in range(0, 1_000_000, 1000):
                    chunk(",".join(json.dumps(layer(i)) for i in range(start, start + 1000)).encode()
                          + (b"," if start + 1000 < 1_000_000 else b"]}"))
                chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif kind == "many" and manifest:
            body = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "a", "digest": "sha256:" + "0" * 64, "size": 1},
                "layers": [layer(i) for i in range(25_000)]}, separators=(",", ":")).encode()
            self.send(200, body, "application/vnd.oci.image.manifest.v1+json")
        else:
            self.send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}')


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
