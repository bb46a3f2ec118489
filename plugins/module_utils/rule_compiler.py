# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Compile rule templates and per-host effective alert policies into Prometheus rules.

Why a compiler: a fleet of 10k targets has 10k effective policies, but only a handful of
distinct parameter sets per template (thresholds, for, severity, labels, routing). One
alerting rule is emitted per (template, distinct parameter set); it selects its hosts with
an `instance` matcher (the scrape config relabels `instance` to the inventory hostname).
A host whose rule is disabled is simply in no selector, so the rule count grows with the
number of distinct parameter sets, never with the number of hosts.

Selector scheme (docs/alert-rules.md): one host -> `instance="h"`; several ->
`instance=~"a|b\\\\.c"`, a plain alternation of regex-escaped, sorted host names.
Prometheus anchors every regex matcher itself, and it resolves a pure alternation of
literals through index postings instead of running the regex over every label value
(the "set matches" fast path), which an explicit `^(?:...)$` would defeat. Large sets are
NOT split: splitting would change the meaning of aggregating templates (ManyNodesDown
counts over the whole set) and the fast path makes a 10k-name selector cheap
(docs/performance.md).

Also generates `promtool test rules` cases proving per-parameter-set thresholds.
Pure Python, no Ansible imports.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import (
    PLACEHOLDER_RE,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.prometheus_grammar import (
    duration_seconds as _grammar_duration_seconds,
    is_label_name,
)

GROUP_PREFIX = "accelmon"
POLICY_LABEL = "accelmon_policy"
RECEIVER_LABEL = "accelmon_receiver"
# Labels the compiler owns; free policy labels cannot replace them.
RESERVED_LABELS = ("alertname", "severity", POLICY_LABEL, RECEIVER_LABEL)
_REGEX_META = set(".+*?()|[]{}^$\\")


class RuleCompileError(ValueError):
    """A policy or template that cannot become a rule; the message says what to fix."""


# ------------------------------------------------------------------------------ helpers


def format_value(value):
    """Threshold as PromQL/annotation text: 70 -> '70', 70.0 -> '70', 0.5 -> '0.5'."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return str(value)


def regex_escape(text):
    """Escape RE2 meta characters the way Prometheus' set-match fast path understands."""
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


def promql_string(text):
    """A double-quoted PromQL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def instance_selector(hosts, label="instance"):
    """Label matcher text selecting exactly `hosts` (an iterable of names)."""
    names = sorted(set(hosts))
    if not names:
        raise RuleCompileError("a selector needs at least one host")
    if len(names) == 1:
        return "%s=%s" % (label, promql_string(names[0]))
    return "%s=~%s" % (label, promql_string("|".join(regex_escape(n) for n in names)))


def duration_seconds(text):
    """Prometheus duration ('1h30m', '90s', '1w', '0s') in seconds (prometheus_grammar)."""
    seconds = _grammar_duration_seconds(str(text).strip())
    if seconds is None:
        raise RuleCompileError("%r is not a Prometheus duration (write e.g. 5m, 1h30m, 0s)" % (text,))
    return seconds


def _substitute(text, values, what):
    def repl(match):
        name = match.group(1)
        if name not in values:
            raise RuleCompileError("%s uses ${%s}, which is neither a parameter nor ${selector}" % (what, name))
        return values[name]

    return PLACEHOLDER_RE.sub(repl, text)


def _canonical(value):
    """Numbers normalised so that 70 and 70.0 form one parameter set."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ------------------------------------------------------------------------------ planning


class RuleSet:
    """One compiled rule: a template, one distinct parameter set, and the hosts sharing it."""

    __slots__ = ("for_", "hosts", "key", "labels", "policy_hash", "severity", "template", "thresholds")

    def __init__(self, template, thresholds, for_, severity, labels, key):
        self.template = template
        self.thresholds = thresholds
        self.for_ = for_
        self.severity = severity
        self.labels = labels
        self.hosts = []
        self.key = key
        self.policy_hash = hashlib.sha256((template + "\n" + key).encode("utf-8")).hexdigest()[:12]

    def rule_labels(self):
        out = dict(self.labels)
        out["severity"] = self.severity
        out[POLICY_LABEL] = self.policy_hash
        return dict(sorted(out.items()))


def host_entry(hostvars):
    """The part of a host's variables the compiler reads (from the inventory contract)."""
    policy = hostvars.get("accelmon_effective_policy") or {}
    return {
        "alert_rules": policy.get("alert_rules") or {},
        "alerting": policy.get("alerting") or {},
        "primary_group": hostvars.get("accelmon_primary_group"),
    }


def _check_labels(host, source, labels):
    for name in labels:
        if not is_label_name(str(name)):
            raise RuleCompileError(
                "host %s: label name %r in %s is not a valid Prometheus label name" % (host, name, source)
            )
        if name in RESERVED_LABELS:
            raise RuleCompileError(
                "host %s: label %r in %s is reserved (set by the rule compiler)" % (host, name, source)
            )


def _alerting_labels(host, alerting):
    """Routing labels of a host: alerting.labels, then alerting.team, then the receiver."""
    extra = alerting.get("labels") or {}
    _check_labels(host, "alerting.labels", extra)
    labels = {str(k): str(v) for k, v in extra.items()}
    if alerting.get("team"):
        labels["team"] = str(alerting["team"])
    if alerting.get("receiver"):
        labels[RECEIVER_LABEL] = str(alerting["receiver"])
    return labels


def _hashable(value):
    if isinstance(value, dict):
        return tuple(sorted((str(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def plan_rules(catalog, hosts):
    """Group hosts by identical effective parameter set per template.

    `catalog` is a policy_catalog.Catalog (or anything with `rule_templates`); `hosts`
    maps inventory hostname -> {"alert_rules": {...}, "alerting": {...}} (an
    `accelmon_effective_policy`, or host_entry() of the host variables).
    Returns {template name: [RuleSet, ...]} with rule sets sorted by their key (a
    canonical JSON text of the parameter set, which also feeds the accelmon_policy hash).
    Label precedence: alerting.labels < alerting.team < the rule's own labels; the
    compiler's own labels (severity, accelmon_*) cannot be set by a policy.
    """
    templates = catalog.rule_templates
    defaults = {name: {p: ps["default"] for p, ps in spec["parameters"].items()} for name, spec in templates.items()}
    durations = set()
    sets = {}
    for host in sorted(hosts):
        entry = hosts[host] or {}
        base_labels = _alerting_labels(host, entry.get("alerting") or {})
        for name, rule in (entry.get("alert_rules") or {}).items():
            spec = templates.get(name)
            if spec is None:
                raise RuleCompileError(
                    "host %s: alert rule %s has no template; pass the model's rule_templates "
                    "(model-defined templates are not host variables)" % (host, name)
                )
            if not rule or not rule.get("enabled", True):
                continue
            thresholds = dict(defaults[name])
            thresholds.update(rule.get("thresholds") or {})
            thresholds = _canonical(thresholds)
            for_ = str(rule.get("for") or spec["for"])
            if for_ not in durations:
                duration_seconds(for_)
                durations.add(for_)
            severity = str(rule.get("severity") or spec["severity"])
            labels = base_labels
            if rule.get("labels"):
                _check_labels(host, "alert_rules.%s.labels" % name, rule["labels"])
                labels = dict(base_labels)
                labels.update((str(k), str(v)) for k, v in rule["labels"].items())
            fast_key = (_hashable(thresholds), for_, severity, tuple(sorted(labels.items())))
            by_key = sets.setdefault(name, {})
            rule_set = by_key.get(fast_key)
            if rule_set is None:
                key = json.dumps(
                    {"thresholds": thresholds, "for": for_, "severity": severity, "labels": labels},
                    sort_keys=True,
                    separators=(",", ":"),
                )
                rule_set = by_key[fast_key] = RuleSet(name, thresholds, for_, severity, dict(labels), key)
            rule_set.hosts.append(host)
    return {name: sorted(by_key.values(), key=lambda rs: rs.key) for name, by_key in sorted(sets.items())}


def render_rule(spec, rule_set):
    """The Prometheus alerting rule of one RuleSet."""
    values = {k: format_value(v) for k, v in rule_set.thresholds.items()}
    expr_values = dict(values)
    expr_values["selector"] = instance_selector(rule_set.hosts)
    what = "template %s" % rule_set.template
    return {
        "alert": rule_set.template,
        "expr": _substitute(spec["expr"], expr_values, what + " expr"),
        "for": rule_set.for_,
        "labels": rule_set.rule_labels(),
        "annotations": {
            "summary": _substitute(spec.get("summary") or rule_set.template, values, what + " summary"),
            "description": _substitute(spec.get("description") or "", values, what + " description"),
        },
    }


def compile_rules(catalog, hosts, group_prefix=GROUP_PREFIX, interval=None):
    """Prometheus rule file (as a dict) for `hosts`; see plan_rules for the arguments.

    One rule group per template (named `<prefix>.<Template>`), one rule per distinct
    parameter set, all ordered deterministically (template name, then parameter-set key;
    host names sorted inside selectors) so that a regenerated file diffs cleanly.
    """
    plan = plan_rules(catalog, hosts)
    return render_plan(catalog, plan, group_prefix, interval)


def render_plan(catalog, plan, group_prefix=GROUP_PREFIX, interval=None):
    groups = []
    for name, rule_sets in plan.items():
        spec = catalog.rule_templates[name]
        group = {"name": "%s.%s" % (group_prefix, name)}
        if interval:
            duration_seconds(interval)
            group["interval"] = str(interval)
        group["rules"] = [render_rule(spec, rs) for rs in rule_sets]
        groups.append(group)
    return {"groups": groups}


def summarize(plan):
    """{template: {"rules": n, "hosts": n}} plus totals, for reports and the action result."""
    out = {}
    for name, rule_sets in plan.items():
        out[name] = {"rules": len(rule_sets), "hosts": sum(len(rs.hosts) for rs in rule_sets)}
    return out


# ------------------------------------------------------------------------------ promtool tests

_TEST_INTERVAL = "1m"


def _cpu_series(host, value, samples):
    idle_per_min = 60.0 * (1.0 - value / 100.0)
    return [
        {
            "series": 'node_cpu_seconds_total{instance=%s,job="node",cpu="0",mode="idle"}' % promql_string(host),
            "values": "1000+%sx%d" % (format_value(round(idle_per_min, 6)), samples),
        }
    ], {"instance": host, "job": "node"}


def _memory_series(host, value, samples):
    total = 1000000.0
    avail = round(total * (1.0 - value / 100.0), 3)
    base = {"instance": host, "job": "node"}
    return [
        {
            "series": 'node_memory_MemTotal_bytes{instance=%s,job="node"}' % promql_string(host),
            "values": "%sx%d" % (format_value(total), samples),
        },
        {
            "series": 'node_memory_MemAvailable_bytes{instance=%s,job="node"}' % promql_string(host),
            "values": "%sx%d" % (format_value(avail), samples),
        },
    ], base


def _disk_series(host, value, samples):
    size = 1000000.0
    avail = round(size * value / 100.0, 3)
    lab = 'instance=%s,job="node",device="/dev/nvme0n1p1",fstype="ext4",mountpoint="/"' % promql_string(host)
    base = {"instance": host, "job": "node", "device": "/dev/nvme0n1p1", "fstype": "ext4", "mountpoint": "/"}
    return [
        {"series": "node_filesystem_size_bytes{%s}" % lab, "values": "%sx%d" % (format_value(size), samples)},
        {"series": "node_filesystem_avail_bytes{%s}" % lab, "values": "%sx%d" % (format_value(avail), samples)},
    ], base


_GPU_LABELS = (("gpu", "NVIDIA H200"), ("gpu_index", "0"), ("gpu_uuid", "GPU-00000000-0000-0000-0000-000000000000"))


def _gpu_labels_text(host):
    return 'instance=%s,job="allsmi",%s' % (
        promql_string(host),
        ",".join("%s=%s" % (k, promql_string(v)) for k, v in _GPU_LABELS),
    )


def _temperature_series(host, value, samples):
    base = dict(_GPU_LABELS)
    base.update({"instance": host, "job": "allsmi"})
    return [
        {
            "series": "all_smi_gpu_temperature_celsius{%s}" % _gpu_labels_text(host),
            "values": "%sx%d" % (format_value(value), samples),
        }
    ], base


# template -> (parameter, direction (+1: fires above, -1: fires below), upper bound of the
# measured value or None, series builder(host, value) -> (input_series, alert labels))
THRESHOLD_TESTS = {
    "HighCPUUsage": ("cpu_percent", 1, 100.0, _cpu_series),
    "HighMemoryUsage": ("memory_percent", 1, 100.0, _memory_series),
    "DiskSpaceLow": ("free_percent", -1, 100.0, _disk_series),
    "AcceleratorHighTemperature": ("celsius", 1, None, _temperature_series),
}
# Readings are this far from a threshold, or half-way to the next distinct threshold of
# the same template when that is closer (so float rounding never decides a test).
_MARGIN = 2.0


def _probe_value(threshold, direction, upper, others, above):
    """A reading just past (above=True) or just short of `threshold` in the firing direction."""
    toward = direction if above else -direction
    gaps = [abs(o - threshold) / 2.0 for o in others if (o - threshold) * toward > 0]
    step = min([_MARGIN] + gaps)
    if upper is not None and toward > 0:
        step = min(step, (upper - threshold) / 2.0)
    if toward < 0:
        step = min(step, threshold / 2.0)
    if step <= 0:
        return None
    return round(threshold + toward * step, 6)


def _eval_minutes(for_):
    # 5m rate window + `for` + a few evaluation intervals of slack, in whole minutes
    return int(-(-duration_seconds(for_) // 60)) + 8


def generate_tests(plan, rule_files, evaluation_interval=_TEST_INTERVAL):
    """`promtool test rules` document (dict) for a compiled plan.

    For every threshold template in THRESHOLD_TESTS and every rule set, one representative
    host (the first) is fed a reading just past its own threshold: it must alert with
    exactly its rule's labels. Then every other rule set's representative gets the same
    reading, and only those whose threshold it passes alert (a production host at 72 %
    CPU alerts on its 70, a research host at 72 % does not on its 99). A reading just short
    of each threshold alerts nobody. AcceleratorOffline: a device's series vanishing while
    `up == 1` fires; the same while `up == 0` does not.
    Annotations are not compared (they carry {{ $value }}): run the tests against
    strip_annotations() of the rule file; `promtool check rules` covers the annotations.
    """
    tests = []
    for name, (param, direction, upper, builder) in sorted(THRESHOLD_TESTS.items()):
        rule_sets = plan.get(name) or []
        if not rule_sets:
            continue
        reps = [(rs, rs.hosts[0], float(rs.thresholds[param])) for rs in rule_sets]
        thresholds = [rep[2] for rep in reps]
        seen = set()
        for threshold in thresholds:
            others = [t for t in thresholds if t != threshold]
            for above in (True, False):
                value = _probe_value(threshold, direction, upper, others, above)
                if value is None or value in seen:
                    continue
                seen.add(value)
                series, alerts = [], []
                minutes = max(_eval_minutes(rep[0].for_) for rep in reps)
                for ors, ohost, othreshold in reps:
                    s, labels = builder(ohost, value, minutes + 5)
                    series.extend(s)
                    if (value - othreshold) * direction > 0:
                        exp = dict(labels)
                        exp.update(ors.rule_labels())
                        alerts.append({"exp_labels": dict(sorted(exp.items()))})
                alerts.sort(key=lambda a: a["exp_labels"]["instance"])
                firing = [a["exp_labels"]["instance"] for a in alerts]
                tests.append(
                    {
                        "name": "%s: reading %s (just %s threshold %s) on one host per parameter set; alerting: %s"
                        % (
                            name,
                            format_value(value),
                            "past" if above else "short of",
                            format_value(threshold),
                            ", ".join(firing) or "none",
                        ),
                        "interval": evaluation_interval,
                        "input_series": series,
                        "alert_rule_test": [{"eval_time": "%dm" % minutes, "alertname": name, "exp_alerts": alerts}],
                    }
                )
    for rs in plan.get("AcceleratorOffline") or []:
        tests.extend(_offline_tests(rs, evaluation_interval))
    return {"rule_files": list(rule_files), "evaluation_interval": evaluation_interval, "tests": tests}


def _offline_tests(rule_set, evaluation_interval):
    host = rule_set.hosts[0]
    info = 'all_smi_gpu_info{%s,type="GPU"}' % _gpu_labels_text(host)
    up = 'up{instance=%s,job="allsmi"}' % promql_string(host)
    labels = dict(_GPU_LABELS)
    labels.update({"instance": host, "job": "allsmi", "type": "GPU"})
    labels.update(rule_set.rule_labels())
    exp = [{"exp_labels": dict(sorted(labels.items()))}]
    out = []
    cases = (("1x30", exp, "fires while up == 1"), ("1x9 0x21", [], "stays quiet while up == 0"))
    for up_values, expect, what in cases:
        out.append(
            {
                "name": "AcceleratorOffline: device of %s vanishes, %s" % (host, what),
                "interval": evaluation_interval,
                "input_series": [{"series": info, "values": "1x9 stale"}, {"series": up, "values": up_values}],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "AcceleratorOffline", "exp_alerts": []},
                    {"eval_time": "15m", "alertname": "AcceleratorOffline", "exp_alerts": expect},
                ],
            }
        )
    return out


def strip_annotations(rules):
    """A copy of a rule file dict without annotations (for promtool unit tests)."""
    out = {"groups": []}
    for group in rules["groups"]:
        g = dict(group)
        g["rules"] = [{k: v for k, v in r.items() if k != "annotations"} for r in group["rules"]]
        out["groups"].append(g)
    return out


RULES_HEADER = (
    "# Generated by accelmon.monitoring.alert_rules from the fleet's effective policies.\n"
    "# Do not edit: change the fleet model and re-run the play (docs/alert-rules.md).\n"
)


def dump_rules_yaml(document, header=RULES_HEADER):
    """Stable YAML text of a rule (or rule test) document: key order kept, long lines not folded."""
    import yaml  # PyYAML is an ansible-core requirement; imported late to keep this module light

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    body = yaml.dump(
        document, Dumper=dumper, sort_keys=False, default_flow_style=False, width=1 << 30, allow_unicode=True
    )
    return (header or "") + body
