#!/usr/bin/env python
"""Webhook receiver for the lab's Alertmanager: appends every notification to a JSON-lines file.

    webhook_sink.py --bind 10.89.200.1 --port 9099 --out /var/tmp/accelmon-lab/webhook.jsonl

Each POST body (Alertmanager's webhook payload, version 4) becomes one line
``{"received_at": <unix time, float>, "path": "/alerts", "payload": {...}}``, flushed and
fsync'ed before the 200 reply, so a reader sees a notification as soon as Alertmanager
counts it as delivered. GET / answers 200 (a health check). Standard library only.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_LOCK = threading.Lock()


def make_handler(out_path):
    class Handler(BaseHTTPRequestHandler):
        server_version = "accelmon-lab-webhook/1"

        def do_GET(self):  # noqa: N802 (http.server API)
            self._reply(200, b"ok\n")

        def do_POST(self):  # noqa: N802
            received = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                payload = json.loads(body.decode("utf-8") or "null")
            except ValueError:
                payload = {"unparsed": body.decode("utf-8", "replace")}
            line = json.dumps({"received_at": received, "path": self.path, "payload": payload}, sort_keys=True)
            with _LOCK, open(out_path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self._reply(200, b"ok\n")

        def _reply(self, code, body):
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):  # quiet: the file is the log
            return

    return Handler


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9099)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    server = ThreadingHTTPServer((args.bind, args.port), make_handler(args.out))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_unused: threading.Thread(target=server.shutdown).start())
    print("webhook sink on http://%s:%d -> %s" % (args.bind, args.port, args.out), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
