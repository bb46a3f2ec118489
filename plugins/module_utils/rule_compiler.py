# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Compile rule templates into Prometheus alerting rules that read the policy series.

Why: per-target thresholds used to become one rule per distinct parameter set with
`instance=~"a|b|..."` selectors, whose evaluation cost grew with rules x selector size
(50x one static rule at 10k targets, docs/performance.md). Now what differs per target is
data (policy_series: `accelmon_alert_threshold` and `accelmon_alert_route` series, scraped
from a textfile on the Prometheus host), and the rules are fixed:

    one alerting rule per template and distinct `for` value.

The usual template ends in one comparison with its one threshold; it becomes one join on
the target's threshold series, which carry the routing labels too, so the join filters by
the target's own threshold, keeps only targets with the rule enabled with this `for`, and
copies the routing labels:

    <measured> > on(instance) group_left(<labels>) accelmon_alert_threshold{accelmon_for="F",alertname="T",param="p"}

A template without thresholds joins the route series the same way
(`(<expr>) * on(instance) group_left(<labels>) accelmon_alert_route{...}`); any other form
joins a threshold series per placeholder and then the route series.

Aggregating templates (`${by}` in expr, ManyNodesDown) count per parameter set: `${route}`
joins the routing labels (parameters included) onto each target's series, `${by}` names
them for the aggregation, and `${param}` compares with the set's own threshold.

A threshold or routing change is a changed series, effective at the next scrape, with
no rule change and no reload. The rule text changes only when a template, a `for` value
or the set of routing label names changes. Template format: docs/alert-rules.md.
The values are the policy engine's (`accelmon_effective_policy`), used as they are.
Pure Python, no Ansible imports.
"""

from __future__ import annotations

import re

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import (
    PLACEHOLDER_RE,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.prometheus_grammar import (
    duration_seconds as _grammar_duration_seconds,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_series import (
    FOR_LABEL,
    NOT_COPIED,
    ROUTE_METRIC,
    TARGETS_METRIC,
    THRESHOLD_METRIC,
    PolicySeriesError,
    final_comparison,
    is_aggregating,
    policy_series,
    promql_string,
)

GROUP_PREFIX = "accelmon"
_EMPTY_BRACES_RE = re.compile(r"\{\s*,\s*|\s*,\s*\}|\{\s*\}")


class RuleCompileError(ValueError):
    """A policy or template that cannot become a rule; the message says what to fix."""


# ------------------------------------------------------------------------------ helpers


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
            raise RuleCompileError("%s uses ${%s}, which is not one of its parameters" % (what, name))
        return values[name]

    return PLACEHOLDER_RE.sub(repl, text)


def _drop_selector(expr):
    """Remove the `${selector}` of templates written for the old compiler: `m{a="1",${selector}}`
    -> `m{a="1"}`, `m{${selector}}` -> `m`."""
    if "${selector}" not in expr:
        return expr

    def tidy(match):
        text = match.group(0)
        if text.startswith("{") and text.endswith("}"):
            return ""
        return "{" if text.startswith("{") else "}"

    return _EMPTY_BRACES_RE.sub(tidy, expr.replace("${selector}", ""))


def _selector(metric, **labels):
    return "%s{%s}" % (metric, ",".join("%s=%s" % (k, promql_string(v)) for k, v in sorted(labels.items())))


# ------------------------------------------------------------------------------ planning


class TemplatePlan:
    """What the rules of one template need: its `for` values and routing label names."""

    __slots__ = ("for_values", "hosts", "labels")

    def __init__(self):
        self.for_values = set()
        self.labels = set()
        self.hosts = 0


def plan_from_series(series):
    """{template: TemplatePlan} from policy series (policy_series.policy_series()): the
    route series, and the threshold series of templates that have no route series."""
    plan = {}
    instances = {}
    for metric, labels, _value in series:
        if metric not in (ROUTE_METRIC, THRESHOLD_METRIC):
            continue
        name = labels["alertname"]
        tp = plan.get(name)
        if tp is None:
            tp = plan[name] = TemplatePlan()
            instances[name] = set()
        tp.for_values.add(labels[FOR_LABEL])
        tp.labels.update(k for k in labels if k not in ("instance", "alertname", "param") and k not in NOT_COPIED)
        instances[name].add(labels["instance"])
    for name, tp in plan.items():
        tp.hosts = len(instances[name])
    return dict(sorted(plan.items()))


def plan_rules(catalog, hosts):
    """(plan, series) for `hosts` ({inventory name: policy_series.host_entry(hostvars)})."""
    try:
        series = policy_series(catalog, hosts)
    except PolicySeriesError as exc:
        raise RuleCompileError(str(exc))
    return plan_from_series(series), series


def _sort_durations(values):
    return sorted(values, key=lambda v: (duration_seconds(v), v))


# ------------------------------------------------------------------------------ rendering


THRESHOLD_TEXT = "the threshold"


def rule_expr(template, spec, for_, label_names):
    """The PromQL of the rule for (template, for_) copying `label_names` from the policy series.

    The usual template ends in one comparison with its one threshold (`<expr> > ${p}`): one
    join on the threshold series, which carry the routing labels, both filters and labels.
    A template without thresholds joins the route series. Any other form: a join on the
    threshold series per placeholder, then on the route series.
    """
    expr = _drop_selector(spec["expr"])
    names = ", ".join(sorted(label_names))
    policy = {FOR_LABEL: for_, "alertname": template}
    route = _selector(ROUTE_METRIC, **policy)
    values = {}
    if is_aggregating(spec):
        values["by"] = names
        values["route"] = "* on(instance) group_left(%s) %s" % (names, route)
        for param in spec["parameters"]:
            values[param] = "on(%s) max by (%s) (%s)" % (names, names, _selector(THRESHOLD_METRIC, param=param, **policy))
        return _substitute(expr, values, "template %s expr" % template)
    single = final_comparison(expr, spec["parameters"])
    if single:
        values[single] = "on(instance) group_left(%s) %s" % (names, _selector(THRESHOLD_METRIC, param=single, **policy))
        return _substitute(expr, values, "template %s expr" % template)
    for param in spec["parameters"]:
        values[param] = "on(instance) group_left %s" % _selector(THRESHOLD_METRIC, param=param, **policy)
    inner = _substitute(expr, values, "template %s expr" % template)
    return "(%s) * on(instance) group_left(%s) %s" % (inner, names, route)


def _annotation(text, template, spec, what):
    if is_aggregating(spec):
        values = {p: "{{ $labels.accelmon_param_%s }}" % p for p in spec["parameters"]}
    else:
        # Per-target thresholds are series: an annotation would need a query per active
        # alert and evaluation (measured: it dominated the rule cost), so it names them.
        values = {p: THRESHOLD_TEXT for p in spec["parameters"]}
    return _substitute(text or "", values, what)


def render_rule(template, spec, for_, label_names, several=False):
    """The Prometheus alerting rule of one template and `for` value. With `several` rules
    for the template, each carries its `for` as label accelmon_for (rules of one name
    need distinct labels)."""
    what = "template %s" % template
    rule = {
        "alert": template,
        "expr": rule_expr(template, spec, for_, label_names),
        "for": for_,
    }
    if several:
        rule["labels"] = {FOR_LABEL: for_}
    rule["annotations"] = {
        "summary": _annotation(spec.get("summary") or template, template, spec, what + " summary"),
        "description": _annotation(spec.get("description"), template, spec, what + " description"),
    }
    return rule


# Every per-target rule needs the policy series: without them (policy exporter down, a
# failed or timed-out scrape, which marks the last scrape's series stale, an unreadable
# file) no per-target alert can fire. This rule says so.
POLICY_HEALTH_GROUP = "AlertPolicy"
POLICY_HEALTH_RULE = {
    "alert": "AlertPolicySeriesMissing",
    "expr": "absent(%s)" % TARGETS_METRIC,
    "for": "2m",
    "labels": {"severity": "critical"},
    "annotations": {
        "summary": "The alert policy series are missing: per-target alert rules cannot fire",
        "description": "Check the policy exporter on the Prometheus host (up{job=\"accelmon_policy\"}, "
        "node_textfile_scrape_error) and its scrape time (docs/alert-rules.md).",
    },
}


def render_plan(catalog, plan, group_prefix=GROUP_PREFIX, interval=None):
    """Prometheus rule file (a dict): one group per template (`<prefix>.<Template>`), one
    rule per distinct `for` value, ordered by template name and duration; plus the group
    `<prefix>.AlertPolicy` whose rule fires while the policy series are missing."""
    groups = []
    if interval:
        duration_seconds(interval)
    for name, tp in plan.items():
        spec = catalog.rule_templates[name]
        several = len(tp.for_values) > 1
        groups.append(
            {
                "name": "%s.%s" % (group_prefix, name),
                "rules": [render_rule(name, spec, f, tp.labels, several) for f in _sort_durations(tp.for_values)],
            }
        )
    if plan:
        groups.append({"name": "%s.%s" % (group_prefix, POLICY_HEALTH_GROUP), "rules": [dict(POLICY_HEALTH_RULE)]})
    groups.sort(key=lambda g: g["name"])
    if interval:
        groups = [{"name": g["name"], "interval": str(interval), "rules": g["rules"]} for g in groups]
    return {"groups": groups}


def global_groups(catalog, rules, group_prefix=GROUP_PREFIX):
    """The groups of a rule file (dict) whose templates count over targets (ManyNodesDown):
    with sharded servers they belong where every shard's data meet (vmalert, Thanos or Mimir
    ruler on the global view, docs/scale-out.md); the rest work on each shard."""
    names = {"%s.%s" % (group_prefix, name) for name, spec in catalog.rule_templates.items() if is_aggregating(spec)}
    return {"groups": [g for g in rules["groups"] if g["name"] in names]}


def compile_rules(catalog, hosts, group_prefix=GROUP_PREFIX, interval=None):
    """Prometheus rule file (as a dict) for `hosts`; see plan_rules for the arguments."""
    plan, _series = plan_rules(catalog, hosts)
    return render_plan(catalog, plan, group_prefix, interval)


def summarize(plan):
    """{template: {"rules": n, "hosts": n}} for reports and the action result."""
    return {name: {"rules": len(tp.for_values), "hosts": tp.hosts} for name, tp in plan.items()}


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
