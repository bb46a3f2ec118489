#!/usr/bin/env python
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Time one registration through the registrar's WSGI app for fleets of growing size.

Each registration checks the new host against the whole fleet model (it is built with the
registration added) and against every registration file, under the registrar's lock, so
the cost grows with the fleet. Prints seconds per registration and registrations per
minute that one registrar sustains (the lock serialises them).

    python tests/benchmarks/registrar_bench.py [SIZES...]     (default: 1000 10000)
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from synthetic_fleet import generate, write_fleet  # noqa: E402

from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_registrar as reg  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt  # noqa: E402

REGISTRATIONS = 10


def _post(app, body):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/register",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "192.0.2.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
    }
    status = []
    app(environ, lambda s, h: status.append(s))
    return status[0]


def bench(size):
    model, hosts = generate(size)
    rack = hosts[0][2][0]
    with tempfile.TemporaryDirectory() as tmp:
        source = write_fleet(tmp, model)
        with open(source, "a") as handle:
            handle.write("registrations: registrations/\n")
        os.makedirs(os.path.join(tmp, "registrations"))
        app = reg.Registrar(
            reg.Config({"db": os.path.join(tmp, "r.db"), "inventory_source": source, "rate_limit_per_minute": 10**6})
        )
        token = bt.create_token(app.conn, 3600, REGISTRATIONS, [rack], [])[0]
        times = []
        for index in range(REGISTRATIONS):
            body = json.dumps(
                {
                    "token": token,
                    "hostname": "new-%05d" % index,
                    "machine_id": "%032x" % index,
                    "addresses": ["10.250.0.%d" % (index + 1)],
                }
            ).encode()
            start = time.perf_counter()
            status = _post(app, body)
            times.append(time.perf_counter() - start)
            assert status.startswith("201"), status
    times.sort()
    median = times[len(times) // 2]
    print(
        "%6d targets: registration median %.3f s, max %.3f s, about %d registrations/minute per registrar"
        % (size, median, times[-1], 60 / median)
    )


def main(argv):
    for size in [int(a) for a in argv] or [1000, 10000]:
        bench(size)


if __name__ == "__main__":
    main(sys.argv[1:])
