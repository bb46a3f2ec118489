# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Connection options of the modules that call the Prometheus or Alertmanager HTTP API
(module_utils/http_json.py CONNECTION_ARGUMENT_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  url_username:
    description: User for basic auth.
    type: str
  url_password:
    description: Password for basic auth.
    type: str
  headers:
    description: Extra HTTP headers (for example C(X-Scope-OrgID) for a multi-tenant server such as Mimir).
    type: dict
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify the server certificate against.
    type: path
"""
