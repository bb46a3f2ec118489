# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Validation of what a self-registering host sends to the registrar.

Everything here is untrusted: the body is parsed as strict JSON (no duplicate keys, no
NaN, bounded size and depth), only allow-listed fields are accepted, and every string is
matched whole against a narrow ASCII grammar (``re.fullmatch``: ``$`` would let a trailing
newline through). Fields that would let a host choose how it is reached or judged
(``vars``, ``ansible_*`` connection variables, ``overrides``, policy, ``address`` itself)
are refused by name, so the host learns why.

The registration document produced holds only fields the fleet model reads from a
registration (see fleet_model.TARGET_KEYS), never ``vars`` or ``overrides``.

Standard library only (plus the model's constants): the registrar imports this without Ansible.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import base64
import binascii
import ipaddress
import json
import re

from ansible_collections.accelmon.monitoring.plugins.module_utils import accelerator_detect as ad
from ansible_collections.accelmon.monitoring.plugins.module_utils.bootstrap_tokens import TOKEN_RE

MAX_BODY_BYTES = 65536
MAX_ADDRESSES = 32
MAX_PCI_FUNCTIONS = 1024
MAX_GROUPS = 16
MAX_JSON_DEPTH = 4

# An inventory hostname that is also a DNS name: labels of letters, digits and '-', joined
# by single dots; no path separators, no '..', nothing Jinja or a shell would read.
HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
MACHINE_ID_RE = re.compile(r"[0-9a-f]{32}")
REGISTRATION_ID_RE = re.compile(r"[0-9a-f]{32}")
GROUP_PATH_RE = re.compile(r"[a-z][a-z0-9_]*:[A-Za-z0-9][A-Za-z0-9._-]{0,62}(/[A-Za-z0-9][A-Za-z0-9._-]{0,62}){0,15}")
TEXT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/()+@-]{0,127}")
RESERVED_NAMES = frozenset(["localhost", "all", "ungrouped"])
# One PCI function as bootstrap.sh reports it: vendor:device:class[:subsystem_device][:vf]
# (hex, no 0x; ':vf' when the function is an SR-IOV virtual function of this host).
PCI_RE = re.compile(r"[0-9a-f]{4}:[0-9a-f]{4}:[0-9a-f]{6}(:[0-9a-f]{4})?(:vf)?")
DMI_VALUE_RE = re.compile(r"[\x20-\x7e]{0,128}")
CLOUD_KEYS = ("instance_id", "instance_type", "region", "zone", "account_id", "project")
# The host's SSH host keys as /etc/ssh/ssh_host_*_key.pub hold them, without the comment:
# the deployer writes them into the controller's known_hosts, so that the first SSH
# connection to a registered host is checked against what the host sent with its token.
MAX_HOST_KEYS = 4
HOST_KEY_RE = re.compile(
    r"(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) ([A-Za-z0-9+/]{40,2000}={0,2})"
)

REQUIRED = ("token", "hostname", "machine_id", "addresses")
OPTIONAL = ("pci", "dmi", "cloud", "primary_group", "groups", "agent", "ssh_host_keys")
# Fields a host must never set, with why: they decide how the host is reached or judged.
FORBIDDEN = {
    "vars": "host variables come from the fleet model, never from the host",
    "overrides": "policy overrides come from the fleet model, never from the host",
    "checks": "policy comes from the fleet model, never from the host",
    "alert_rules": "policy comes from the fleet model, never from the host",
    "alerting": "policy comes from the fleet model, never from the host",
    "address": "send addresses: [...]; the registrar picks the address",
    "name": "send hostname",
    "description": "the registrar writes the description",
    "provider_metadata": "send cloud: {...}",
    "accelerators": "send pci: [...]; the registrar recognises accelerators",
}


class RequestError(Exception):
    """A refused request: HTTP status, a short reason code and a message for the host."""

    def __init__(self, status, reason, message):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def _bad(message, reason="invalid"):
    return RequestError(400, reason, message)


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _bad("duplicate key %r in the JSON body" % key, "malformed")
        out[key] = value
    return out


def _no_constants(name):
    raise _bad("%s is not valid JSON" % name, "malformed")


def _depth(value, level=1):
    if level > MAX_JSON_DEPTH:
        raise _bad("the JSON body is nested deeper than %d levels" % MAX_JSON_DEPTH, "malformed")
    if isinstance(value, dict):
        for item in value.values():
            _depth(item, level + 1)
    elif isinstance(value, list):
        for item in value:
            _depth(item, level + 1)


def parse_json_body(body, max_bytes=MAX_BODY_BYTES):
    """The JSON object of a request body; RequestError for anything else."""
    if len(body) > max_bytes:
        raise RequestError(413, "too_large", "the body is larger than %d bytes" % max_bytes)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("the body is not UTF-8", "malformed")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        raise _bad("the JSON body is nested too deeply", "malformed")
    except ValueError as exc:
        if isinstance(exc, RequestError):
            raise
        raise _bad("the body is not valid JSON: %s" % exc, "malformed")
    if not isinstance(data, dict):
        raise _bad("the body must be a JSON object", "malformed")
    return data


def _string(data, key, pattern, what, max_len=253):
    value = data.get(key)
    if not isinstance(value, str) or len(value) > max_len or not pattern.fullmatch(value):
        raise _bad("%s: %r is not %s" % (key, _short(value), what))
    return value


def _short(value):
    text = repr(value)
    return value if len(text) <= 80 else text[:77] + "..."


def check_hostname(value):
    """An inventory name a host may register under; RequestError otherwise."""
    if not isinstance(value, str) or not HOSTNAME_RE.fullmatch(value):
        raise _bad(
            "hostname %r is not a valid inventory name: letters, digits and '-' in dot-separated labels "
            "(no '/', '..', spaces, braces or control characters)" % (_short(value),)
        )
    if value.lower() in RESERVED_NAMES:
        raise _bad("hostname %r is reserved in Ansible inventories" % value)
    return value


def pick_address(addresses, allowed_networks=()):
    """The first address a host can be reached at: unicast, not loopback or link-local.

    ``allowed_networks`` (ipaddress networks) narrows the choice further; a registrar sets
    it to the networks its fleet lives in.
    """
    if not isinstance(addresses, list) or not addresses or len(addresses) > MAX_ADDRESSES:
        raise _bad("addresses must be a list of 1 to %d IP addresses" % MAX_ADDRESSES)
    parsed = []
    for value in addresses:
        if not isinstance(value, str) or len(value) > 45 or "%" in value:
            raise _bad("addresses: %r is not an IP address" % (_short(value),))
        try:
            parsed.append(ipaddress.ip_address(value))
        except ValueError:
            raise _bad("addresses: %r is not an IP address" % (_short(value),))
    for addr in parsed:
        if addr.is_loopback or addr.is_link_local or addr.is_multicast or addr.is_unspecified:
            continue
        if allowed_networks and not any(addr in net for net in allowed_networks):
            continue
        return str(addr)
    raise RequestError(
        422,
        "no_address",
        "none of the addresses is usable (loopback, link-local, multicast and addresses outside %s are skipped)"
        % (", ".join(str(n) for n in allowed_networks) or "the registrar's networks"),
    )


def accelerators_from_pci(functions):
    """Accelerators ({vendor, model, count}) among reported PCI functions.

    The host reports raw PCI identities; which of them are accelerators is decided here by
    accelerator_detect, the same rules the accelerator_facts module applies on a host.
    """
    if functions is None:
        return []
    if not isinstance(functions, list) or len(functions) > MAX_PCI_FUNCTIONS:
        raise _bad("pci must be a list of at most %d PCI functions" % MAX_PCI_FUNCTIONS)
    counts = {}
    for value in functions:
        if not isinstance(value, str) or not PCI_RE.fullmatch(value):
            raise _bad("pci: %r is not vendor:device:class[:subsystem_device][:vf] in hex" % (_short(value),))
        parts = value.split(":")
        device = {
            "vendor_id": "0x" + parts[0],
            "device_id": "0x" + parts[1],
            "class": "0x" + parts[2],
            "subsystem_device_id": "0x" + parts[3] if len(parts) > 3 and parts[3] != "vf" else None,
            "is_virtfn_on_host": parts[-1] == "vf",
        }
        vendor = ad.classify(device)
        if vendor is not None:
            key = (vendor, ad.model_for(device))
            counts[key] = counts.get(key, 0) + 1
    out = []
    for (vendor, model), count in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        entry = {"vendor": vendor}
        if model:
            entry["model"] = model
        entry["count"] = count
        out.append(entry)
    return out


def provider_from_dmi(dmi):
    """'aws', 'gcp', 'azure' or 'onprem' from the reported DMI strings (accelerator_detect's rules)."""
    if dmi is None:
        return "onprem"
    if not isinstance(dmi, dict):
        raise _bad("dmi must be an object")
    unknown = set(dmi) - set(ad.DMI_FIELDS)
    if unknown:
        raise _bad(
            "dmi: unknown key(s) %s; allowed: %s" % (", ".join(sorted(map(str, unknown))), ", ".join(ad.DMI_FIELDS))
        )
    for key, value in dmi.items():
        if not isinstance(value, str) or not DMI_VALUE_RE.fullmatch(value):
            raise _bad("dmi.%s must be printable ASCII, at most 128 characters" % key)
    return ad.cloud_provider_from_dmi(dmi)


def _cloud(value, provider):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad("cloud must be an object")
    unknown = set(value) - set(CLOUD_KEYS)
    if unknown:
        raise _bad(
            "cloud: unknown key(s) %s; allowed: %s" % (", ".join(sorted(map(str, unknown))), ", ".join(CLOUD_KEYS))
        )
    if value and provider == "onprem":
        raise _bad("cloud identity sent, but the DMI data shows no cloud provider")
    out = {}
    for key in CLOUD_KEYS:
        if value.get(key) is not None:
            out[key] = _string(value, key, TEXT_RE, "a plain identifier", 128)
    return out


def _groups(data):
    primary = data.get("primary_group")
    if primary is not None:
        primary = _string(data, "primary_group", GROUP_PATH_RE, "a group path such as infrastructure:onprem/dc1", 1024)
    groups = data.get("groups")
    if groups is not None:
        if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
            raise _bad("groups must be a list of at most %d group paths" % MAX_GROUPS)
        for path in groups:
            if not isinstance(path, str) or not GROUP_PATH_RE.fullmatch(path):
                raise _bad("groups: %r is not a group path such as environment:production" % (_short(path),))
    return primary, groups


def ssh_host_keys(value):
    """The host's public SSH host keys, each "TYPE BASE64" (the key blob must name TYPE)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_HOST_KEYS:
        raise _bad("ssh_host_keys must be a list of at most %d public keys" % MAX_HOST_KEYS)
    out = []
    for item in value:
        match = HOST_KEY_RE.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            raise _bad(
                "ssh_host_keys: %r is not 'TYPE BASE64' with TYPE ssh-ed25519, ecdsa-sha2-nistp256/384/521 "
                "or ssh-rsa (the first two fields of /etc/ssh/ssh_host_*_key.pub)" % (_short(item),)
            )
        keytype, encoded = match.groups()
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("ssh_host_keys: the %s key is not valid base64" % keytype)
        size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
        if blob[4 : 4 + size] != keytype.encode("ascii") or (keytype == "ssh-ed25519" and len(blob) != 51):
            raise _bad("ssh_host_keys: the %s key's data is not a %s public key" % (keytype, keytype))
        if "%s %s" % (keytype, encoded) not in out:
            out.append("%s %s" % (keytype, encoded))
    return sorted(out)


def parse_registration(data, allowed_networks=()):
    """Check a registration request (a parsed JSON object); returns the clean request.

    The result holds: token, hostname, machine_id, address (picked from addresses),
    accelerators (recognised in pci), provider (from dmi), cloud, primary_group (or None),
    groups (or None), agent, ssh_host_keys (a sorted list, maybe empty).
    """
    for key in sorted(data):
        if key in FORBIDDEN:
            raise RequestError(400, "forbidden_field", "field %r is not accepted: %s" % (key, FORBIDDEN[key]))
        if key.startswith("ansible_"):
            raise RequestError(
                400, "forbidden_field", "field %r is not accepted: connection settings come from the fleet model" % key
            )
        if key not in REQUIRED and key not in OPTIONAL:
            raise _bad("unknown field %r; allowed: %s" % (_short(key), ", ".join(REQUIRED + OPTIONAL)))
    _depth(data)
    missing = [k for k in REQUIRED if data.get(k) in (None, "", [])]
    if missing:
        raise _bad("missing field(s): %s" % ", ".join(missing))
    token = data["token"]
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        raise RequestError(401, "malformed_token", "token is not in the form [a-z0-9]{6}.[a-z0-9]{16}")
    primary, groups = _groups(data)
    provider = provider_from_dmi(data.get("dmi"))
    agent = data.get("agent")
    if agent is not None:
        agent = _string(data, "agent", TEXT_RE, "a version string", 128)
    return {
        "token": token,
        "hostname": check_hostname(data["hostname"]),
        "machine_id": _string(data, "machine_id", MACHINE_ID_RE, "a machine id (32 lower-case hex digits)", 32),
        "address": pick_address(data["addresses"], allowed_networks),
        "accelerators": accelerators_from_pci(data.get("pci")),
        "provider": provider,
        "cloud": _cloud(data.get("cloud"), provider),
        "primary_group": primary,
        "groups": groups,
        "agent": agent,
        "ssh_host_keys": ssh_host_keys(data.get("ssh_host_keys")),
    }


def registration_document(request, primary_group, groups, token_id, when):
    """The registration file's content: only fields the fleet model reads, none it would trust."""
    doc = {
        "name": request["hostname"],
        "address": request["address"],
        "primary_group": primary_group,
    }
    if groups:
        doc["groups"] = list(groups)
    if request["accelerators"]:
        doc["accelerators"] = request["accelerators"]
    if request["cloud"]:
        doc["provider_metadata"] = dict(request["cloud"])
    doc["description"] = "registered %s with bootstrap token %s" % (when, token_id)
    return doc
