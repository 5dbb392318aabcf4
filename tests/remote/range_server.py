#!/usr/bin/env python3
"""An HTTP/1.1 file server with Range support and fault modes, for the remote tests.

    python3 range_server.py ROOT [--tls CERT KEY]

serves the files under ROOT on 127.0.0.1, on a free port which it prints as "port N" on its first
line of output; it runs until it is killed, its parent process ends, or 15 minutes have passed.
With --tls it speaks HTTPS with the certificate chain CERT and its key KEY. Connections are kept
alive (HTTP/1.1). A request line with an absolute URL (GET http://host/... , as clients send to a
proxy) is served by its path, like a proxy that reaches this server. A file is reached as
/MODE/NAME (NAME may hold subdirectories, never ".."), where MODE says how it is served:

    files      as a server should: 206 for one byte range (Content-Range, ETag), 200 without a
               Range header, 416 for a range past the end, 404 for a missing file
    norange    ignores Range: 200 and the whole file
    truncate   206 with the range's Content-Length, then only half the body, then the
               connection closes
    short      206 for only the first half of the range (a consistent, shorter Content-Range)
    shifted    206 for the range one byte further on (back, at the end of the file), with its
               own Content-Range: consistent, but not the bytes asked for
    forbidden  403
    changing   a new ETag on every request
    growing    one byte longer on every request (Content-Range's total)
    flaky      503 for the first two requests of each path, then as "files"; flakyNNN: status
               NNN instead of 503 (flaky408, flaky429)
    stall      the headers and half the body, then nothing (the connection stays open)
    drip       the headers, then one body byte every 50 ms, for 20 seconds at most
    escapes    404 whose reason phrase and body hold terminal escape sequences
    escapetag  as "changing", with terminal escape sequences in the ETag
    bigerror   500 with a body of 100 MB (Content-Length), sent as fast as the client reads

MODE-after-K serves the first K requests of a path as "files", then as MODE (stall: K is 1
unless given); "truncate-after-2" lets a reader open (two requests) and truncates the next.
MODE-after-K-once serves only the request after the first K as MODE, and every other as "files".

GET /__redirect?to=URL[&code=NNN] answers NNN (302 unless given) with Location: URL.

GET /__stats answers JSON: the requests and body bytes served to /MODE/NAME paths, the
connections accepted, the ranges asked for ([first, last], in arrival order), and the last 200
requests of any path as {"path", "headers": {name: value}, "proxied"}; GET /__reset zeroes them
(not the per-path counts of the modes). Only the standard library is used.
"""
import http.server
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
STATS = {"requests": 0, "bytes": 0, "connections": 0, "ranges": [], "log": []}
PER_PATH = {}  # requests per path, for the flaky, stall, changing and growing modes


def parse_range(header, size):
    """(first, last) of a single "bytes=" range, None without one, "bad" when unsatisfiable."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    spec = header[len("bytes="):].strip()
    first, _, last = spec.partition("-")
    try:
        if first == "":
            n = int(last)
            if n == 0 or size == 0:
                return "bad"
            return max(0, size - n), size - 1
        first = int(first)
        last = int(last) if last else size - 1
    except ValueError:
        return None
    if first >= size or last < first:
        return "bad"
    return first, min(last, size - 1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm holds the
        # body until the client's delayed ACK of the headers (some 40 ms a request).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with LOCK:
            STATS["connections"] += 1

    def send_json(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_status(self, code):
        body = ("%d\n" % code).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def served(self, n):
        with LOCK:
            STATS["bytes"] += n

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)  # an absolute URL through a proxy, or a path
        with LOCK:
            STATS["log"].append({"path": url.path, "proxied": bool(url.scheme),
                                 "headers": dict(self.headers.items())})
            del STATS["log"][:-200]
        if url.path == "/__stats":
            with LOCK:
                return self.send_json(STATS)
        if url.path == "/__reset":
            with LOCK:
                STATS.update(requests=0, bytes=0, connections=0, ranges=[], log=[])
            return self.send_json({})
        if url.path == "/__redirect":
            query = urllib.parse.parse_qs(url.query)
            self.send_response(int(query.get("code", ["302"])[0]))
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = url.path
        parts = path.lstrip("/").split("/", 1)
        if len(parts) != 2:
            return self.send_status(404)
        mode, name = parts
        with LOCK:
            STATS["requests"] += 1
            seen = PER_PATH.get(path, 0)
            PER_PATH[path] = seen + 1
        once = mode.endswith("-once")
        mode, _, after = mode[:-5 if once else None].partition("-after-")
        first_bad = int(after) if after.isdigit() else 1 if mode == "stall" else 0
        if seen < first_bad or (once and seen > first_bad):
            mode = "files"
        file = os.path.join(self.server.root, name)
        if ".." in name.split("/") or not os.path.isfile(file):
            return self.send_status(404)
        if mode == "forbidden":
            return self.send_status(403)
        if mode.startswith("flaky") and seen < 2:
            return self.send_status(int(mode[5:] or "503"))
        if mode == "escapes":
            body = b"\x1b[2J\x1b]0;owned\x07page\x9b31m"
            self.send_response(404, "Not \x1b[31mFound\x1b]0;owned\x07\x9b1m")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if mode == "bigerror":
            self.send_response(500)
            self.send_header("Content-Length", str(100 << 20))
            self.end_headers()
            chunk = b"e" * (1 << 20)
            for _ in range(100):
                self.served(len(chunk))
                self.wfile.write(chunk)
            return
        size = os.path.getsize(file)  # read by ranges: a sparse file of any size claims it
        extra = seen + 1 if mode == "growing" else 0
        etag = '"%x-%x"' % (size + extra, int(os.path.getmtime(file)))
        if mode == "changing":
            etag = '"v%d"' % seen
        if mode == "escapetag":
            etag = '"v%d\x1b]0;owned\x07\x1b[2J"' % seen

        def content(first, last):  # bytes [first, last] of the file, the growth included
            with open(file, "rb") as f:
                f.seek(first)
                data = f.read(max(0, min(last, size - 1) - first + 1))
            return data + b"\0" * (last - first + 1 - len(data))

        header = self.headers.get("Range")
        rng = None if mode == "norange" else parse_range(header, size + extra)
        with LOCK:
            if header:
                STATS["ranges"].append(list(rng) if isinstance(rng, tuple) else header)
        if rng == "bad":
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % (size + extra))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if rng is None:
            body = content(0, size + extra - 1)
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.served(len(body))  # counted first: the client may ask for the stats at once
            self.wfile.write(body)
            return
        first, last = rng
        if mode == "short":
            last = first + (last - first) // 2
        if mode == "shifted":  # one byte further on, or back at the end of the file
            shift = 1 if last + 1 < size + extra else -1 if first > 0 else 0
            first, last = first + shift, last + shift
        body = content(first, last)
        self.send_response(206)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, size + extra))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drip":
            for i in range(min(len(body), 400)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(0.05)
            self.close_connection = True
            return
        if mode in ("truncate", "stall"):
            half = body[:len(body) // 2]
            self.served(len(half))
            self.wfile.write(half)
            self.wfile.flush()
            if mode == "stall":
                time.sleep(3600)  # the process is killed first
            self.close_connection = True
            return
        self.served(len(body))
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that closes its connection (a test that stops reading) is no error


def watchdog(parent):
    """Exits when the test that started the server is gone, or after 15 minutes."""
    deadline = time.monotonic() + 900
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.5)
    os._exit(0)


def main():
    if len(sys.argv) not in (2, 5) or (len(sys.argv) == 5 and sys.argv[2] != "--tls"):
        sys.exit("usage: range_server.py ROOT [--tls CERT KEY]")
    threading.Thread(target=watchdog, args=(os.getppid(),), daemon=True).start()
    server = Server(("127.0.0.1", 0), Handler)
    server.root = sys.argv[1]
    if len(sys.argv) == 5:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("port %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
