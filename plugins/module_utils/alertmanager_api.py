# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Alertmanager v2 silence API: pure helpers plus a thin HTTP client.

The helpers (matcher parsing, durations, RFC 3339 times, finding an equal silence, picking
silences to expire) take and return plain data, so pytest exercises them without a server
and the module stays glue. The client speaks JSON over ansible.module_utils.urls.open_url;
tests may hand it another opener with the same signature.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.accelmon.monitoring.plugins.module_utils.http_json import JsonApiClient

UTC = datetime.timezone.utc  # noqa: UP017 - datetime.UTC needs Python 3.11 on the target

# name op "value" | name op value; op one of = != =~ !~ (the forms amtool and the UI accept).
_MATCHER_RE = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "y": 31536000,
}
_TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*([Zz]|[+-]\d{2}:?\d{2})?$")
LIVE_STATES = ("active", "pending")


class AlertmanagerAPIError(Exception):
    """A request failed or a value cannot be used; the message says which and why."""


def parse_matcher(spec):
    """One matcher as the API wants it ({name, value, isRegex, isEqual}).

    Accepts 'name="value"', 'name=~"regex"', 'name!=value', 'name!~"re"', or a dict with
    name, value and optional isRegex/isEqual (or is_regex/is_equal).
    """
    if isinstance(spec, dict):
        if "name" not in spec or "value" not in spec:
            raise AlertmanagerAPIError(f"matcher {spec!r} needs both name and value")
        name = str(spec["name"])
        value = str(spec["value"])
        is_regex = bool(spec.get("isRegex", spec.get("is_regex", False)))
        is_equal = bool(spec.get("isEqual", spec.get("is_equal", True)))
    else:
        match = _MATCHER_RE.match(str(spec))
        if not match:
            raise AlertmanagerAPIError(f'matcher {spec!r} is not of the form name="value" (operators =, !=, =~, !~)')
        name, op, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        is_regex = op in ("=~", "!~")
        is_equal = op in ("=", "=~")
    if not _LABEL_RE.match(name):
        raise AlertmanagerAPIError(f"matcher label name {name!r} is not a valid Prometheus label name")
    return {"name": name, "value": value, "isRegex": is_regex, "isEqual": is_equal}


def normalize_matchers(specs):
    """Parsed matchers sorted by (name, value, isRegex, isEqual): order does not matter."""
    if not specs:
        raise AlertmanagerAPIError("a silence needs at least one matcher")
    parsed = [parse_matcher(s) for s in specs]
    return sorted(parsed, key=matcher_key)


def matcher_key(m):
    return (
        m["name"],
        m["value"],
        bool(m.get("isRegex", False)),
        bool(m.get("isEqual", True)),
    )


def matchers_equal(a, b):
    """True when two matcher lists select the same alerts (same set, any order)."""
    return sorted(matcher_key(m) for m in a) == sorted(matcher_key(m) for m in b)


def parse_duration(value):
    """Seconds in a Prometheus-style duration ('2h', '1h30m', '90s') or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        if re.match(r"^\d+(\.\d+)?$", text):
            seconds = float(text)
        else:
            pos = 0
            seconds = 0.0
            for match in _DURATION_RE.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise AlertmanagerAPIError(f"duration {value!r} is not a duration such as 90s, 30m, 2h or 1h30m")
    if seconds < 0:
        raise AlertmanagerAPIError(f"duration {value!r} is negative")
    return seconds


def parse_time(value):
    """An aware UTC datetime from RFC 3339 ('2025-01-02T03:04:05Z', with optional fraction
    and offset), a datetime, or a number of seconds since the epoch."""
    if isinstance(value, datetime.datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, UTC)
    match = _TIME_RE.match(str(value).strip())
    if not match:
        raise AlertmanagerAPIError(
            f"time {value!r} is not RFC 3339, e.g. 2025-06-01T22:00:00Z or 2025-06-01T22:00:00+02:00"
        )
    year, month, day, hour, minute, second, frac, tz = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    offset = datetime.timedelta(0)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    dt = datetime.datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        micro,
        tzinfo=datetime.timezone(offset),
    )
    return dt.astimezone(UTC)


def format_time(dt):
    """RFC 3339 in UTC with millisecond precision, as Alertmanager writes it."""
    dt = parse_time(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def silence_window(now, starts_at=None, ends_at=None, duration=None):
    """(start, end) of the wanted silence; start defaults to now, end to start + duration."""
    now = parse_time(now)
    start = now if starts_at in (None, "", "now") else parse_time(starts_at)
    if ends_at not in (None, "") and duration not in (None, ""):
        raise AlertmanagerAPIError("give ends_at or duration, not both")
    if ends_at not in (None, ""):
        end = parse_time(ends_at)
    elif duration not in (None, ""):
        end = start + datetime.timedelta(seconds=parse_duration(duration))
    else:
        raise AlertmanagerAPIError("a silence needs ends_at or duration")
    if end <= start:
        raise AlertmanagerAPIError(
            f"the silence would end ({format_time(end)}) before it starts ({format_time(start)})"
        )
    if end <= now:
        raise AlertmanagerAPIError(f"the silence would end in the past ({format_time(end)})")
    return start, end


def is_live(silence):
    """Active or pending (not yet started); expired silences are history."""
    return (silence.get("status") or {}).get("state") in LIVE_STATES


def build_silence(matchers, start, end, created_by, comment, silence_id=None):
    body = {
        "matchers": [dict(m) for m in matchers],
        "startsAt": format_time(start),
        "endsAt": format_time(end),
        "createdBy": created_by,
        "comment": comment,
    }
    if silence_id:
        body["id"] = silence_id
    return body


def find_equal_silence(silences, matchers, created_by, comment, start, end, now, tolerance=300.0):
    """(silence, up_to_date) for the live silence with the same matchers, author and comment.

    up_to_date is True when its end (and, for a pending one, its start) lies within
    `tolerance` seconds of the wanted window: re-running a task with `duration` then finds
    the silence it made instead of making another. (None, False) when there is none.
    """
    now = parse_time(now)
    candidates = [
        s
        for s in silences
        if is_live(s)
        and matchers_equal(s.get("matchers") or [], matchers)
        and s.get("createdBy") == created_by
        and s.get("comment") == comment
    ]
    if not candidates:
        return None, False
    # Prefer the one ending closest to the wanted end.
    candidates.sort(key=lambda s: abs((parse_time(s["endsAt"]) - end).total_seconds()))
    best = candidates[0]
    end_ok = abs((parse_time(best["endsAt"]) - end).total_seconds()) <= tolerance
    start_ok = True
    if (best.get("status") or {}).get("state") == "pending" or start > now + datetime.timedelta(seconds=tolerance):
        start_ok = abs((parse_time(best["startsAt"]) - start).total_seconds()) <= tolerance
    return best, end_ok and start_ok


def select_for_expiry(silences, silence_id=None, matchers=None, created_by=None, comment=None):
    """Live silences to expire: the one with silence_id, or every one whose matchers equal
    `matchers` (and whose author / comment equal the given ones, when given)."""
    out = []
    for s in silences:
        if not is_live(s):
            continue
        if silence_id:
            if s.get("id") == silence_id:
                out.append(s)
            continue
        if matchers is not None and not matchers_equal(s.get("matchers") or [], matchers):
            continue
        if created_by is not None and s.get("createdBy") != created_by:
            continue
        if comment is not None and s.get("comment") != comment:
            continue
        out.append(s)
    return sorted(out, key=lambda s: s.get("id") or "")


class AlertmanagerClient(JsonApiClient):
    """Alertmanager's /api/v2/silences (connection options: module_utils/http_json.py)."""

    error = AlertmanagerAPIError
    service = "Alertmanager"

    def list_silences(self):
        return self.request("GET", "/api/v2/silences") or []

    def create_silence(self, body):
        answer = self.request("POST", "/api/v2/silences", body) or {}
        if "silenceID" not in answer:
            raise AlertmanagerAPIError(f"POST /api/v2/silences returned no silenceID: {answer!r}")
        return answer["silenceID"]

    def expire_silence(self, silence_id):
        self.request("DELETE", f"/api/v2/silence/{silence_id}")
