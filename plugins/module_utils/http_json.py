# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""One JSON-over-HTTP client for the Prometheus and Alertmanager APIs.

The connection options (basic auth, headers, TLS verification, CA, timeout) are the same for
every module that talks to these servers: their argument spec is CONNECTION_ARGUMENT_SPEC
(documented by the doc fragment accelmon.monitoring.http_api) and the client below turns
them into ansible.module_utils.urls.open_url calls. Tests may hand the client another
opener with open_url's signature.
"""

from __future__ import annotations

import json
import urllib.parse

try:
    from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
    from ansible.module_utils.urls import open_url
except ImportError:  # pragma: no cover - ansible-core is always there in practice
    open_url = None
    from urllib.error import HTTPError, URLError

# Options every API module takes besides its url and its own timeout option.
CONNECTION_ARGUMENT_SPEC = {
    "url_username": {"type": "str"},
    "url_password": {"type": "str", "no_log": True},
    "headers": {"type": "dict"},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
}


def connection_options(params):
    """The client keyword arguments among a module's params (CONNECTION_ARGUMENT_SPEC's keys)."""
    return {key: params.get(key) for key in CONNECTION_ARGUMENT_SPEC}


class JsonApiClient:
    """Requests against one server's JSON API; failures raise `error` with a message that
    names the request, the answer and the server (`service`) to check."""

    error = Exception
    service = "the server"

    def __init__(
        self,
        url,
        opener=None,
        timeout=10,
        validate_certs=True,
        url_username=None,
        url_password=None,
        headers=None,
        ca_path=None,
    ):
        self.base = str(url).rstrip("/")
        self.opener = opener or open_url
        self.kwargs = {"timeout": timeout, "validate_certs": validate_certs}
        self.headers = dict(headers or {})
        if url_username:
            self.kwargs.update(url_username=url_username, url_password=url_password, force_basic_auth=True)
        if ca_path:
            self.kwargs["ca_path"] = ca_path

    def request(self, method, path, body=None, params=None):
        """The decoded JSON answer (None for an empty body)."""
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        headers = {"Accept": "application/json"}
        headers.update(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            raw = self.opener(url, method=method, data=data, headers=headers, **self.kwargs).read()
        except HTTPError as exc:
            detail = ""
            try:
                detail = exc.read().decode("utf-8", "replace").strip()
            except (OSError, AttributeError, ValueError):  # pragma: no cover - best effort
                detail = ""
            raise self.error(f"{method} {url}: HTTP {exc.code} {detail or exc.reason}")
        except URLError as exc:
            raise self.error(f"{method} {url}: {exc.reason} (is {self.service} running at {self.base}?)")
        except (OSError, ValueError) as exc:  # socket timeouts, bad URLs
            raise self.error(f"{method} {url}: {exc}")
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise self.error(f"{method} {url}: answer is not JSON: {raw[:200]!r}")
