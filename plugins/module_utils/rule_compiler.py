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

A template placeholder `${param}` becomes a join on the target's threshold series,

    <measured> > on(instance) group_left accelmon_alert_threshold{alertname="T",param="p"}

and the whole expression is joined to the target's route series, which selects the
targets whose rule is enabled with this `for` and copies the routing labels:

    (<expr>) * on(instance) group_left(<route labels>) accelmon_alert_route{alertname="T",accelmon_for="F"}

Aggregating templates (`${by}` in expr, ManyNodesDown) count per parameter set: `${route}`
joins the routing labels (parameters included) onto each target's series, `${by}` names
them for the aggregation, and `${param}` compares with the set's own threshold.

A threshold or routing change is a changed series, effective at the next scrape, with
no rule change and no reload. The rule text changes only when a template, a `for` value
or the set of routing label names changes. Template format: docs/alert-rules.md.
The values are the policy engine's (`accelmon_effective_policy`), used as they are.
Pure Python, no Ansible imports.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import re

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import (
    PLACEHOLDER_RE,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_series import (
    FOR_LABEL,
    NOT_COPIED,
    ROUTE_METRIC,
    THRESHOLD_METRIC,
    PolicySeriesError,
    is_aggregating,
    policy_series,
    promql_string,
)

GROUP_PREFIX = "accelmon"
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_EMPTY_BRACES_RE = re.compile(r"\{\s*,\s*|\s*,\s*\}|\{\s*\}")


class RuleCompileError(ValueError):
    """A policy or template that cannot become a rule; the message says what to fix."""


# ------------------------------------------------------------------------------ helpers


def duration_seconds(text):
    """Prometheus duration ('1h30m', '90s', '0s') in seconds."""
    match = _DURATION_RE.match(str(text).strip())
    if not match or not str(text).strip():
        raise RuleCompileError("%r is not a Prometheus duration (write e.g. 5m, 1h30m, 0s)" % (text,))
    d, h, m, s, ms = (int(g) if g else 0 for g in match.groups())
    return d * 86400 + h * 3600 + m * 60 + s + ms / 1000.0


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
    """{template: TemplatePlan} from policy series (policy_series.policy_series())."""
    plan = {}
    for metric, labels, _value in series:
        if metric != ROUTE_METRIC:
            continue
        tp = plan.get(labels["alertname"])
        if tp is None:
            tp = plan[labels["alertname"]] = TemplatePlan()
        tp.for_values.add(labels[FOR_LABEL])
        tp.labels.update(k for k in labels if k not in ("instance", "alertname") and k not in NOT_COPIED)
        tp.hosts += 1
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


def threshold_query(template, param):
    """Annotation text giving the target's threshold (the query runs only for active alerts)."""
    return (
        '{{ with printf "%s{alertname=\\"%s\\",param=\\"%s\\",instance=\\"%%s\\"}" $labels.instance | query }}'
        "{{ . | first | value }}{{ end }}" % (THRESHOLD_METRIC, template, param)
    )


def rule_expr(template, spec, for_, label_names):
    """The PromQL of the rule for (template, for_) copying `label_names` from the route series."""
    expr = _drop_selector(spec["expr"])
    names = ", ".join(sorted(label_names))
    route = _selector(ROUTE_METRIC, alertname=template, **{FOR_LABEL: for_})
    values = {}
    if is_aggregating(spec):
        values["by"] = names
        values["route"] = "* on(instance) group_left(%s) %s" % (names, route)
        for param in spec["parameters"]:
            values[param] = "on(%s) max by (%s) (%s * on(instance) group_left(%s) %s)" % (
                names,
                names,
                _selector(THRESHOLD_METRIC, alertname=template, param=param),
                names,
                route,
            )
        return _substitute(expr, values, "template %s expr" % template)
    for param in spec["parameters"]:
        values[param] = "on(instance) group_left %s" % _selector(THRESHOLD_METRIC, alertname=template, param=param)
    inner = _substitute(expr, values, "template %s expr" % template)
    return "(%s) * on(instance) group_left(%s) %s" % (inner, names, route)


def _annotation(text, template, spec, what):
    if is_aggregating(spec):
        values = {p: "{{ $labels.accelmon_param_%s }}" % p for p in spec["parameters"]}
    else:
        values = {p: threshold_query(template, p) for p in spec["parameters"]}
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


def render_plan(catalog, plan, group_prefix=GROUP_PREFIX, interval=None):
    """Prometheus rule file (a dict): one group per template (`<prefix>.<Template>`), one
    rule per distinct `for` value, ordered by template name and duration."""
    groups = []
    for name, tp in plan.items():
        spec = catalog.rule_templates[name]
        group = {"name": "%s.%s" % (group_prefix, name)}
        if interval:
            duration_seconds(interval)
            group["interval"] = str(interval)
        several = len(tp.for_values) > 1
        group["rules"] = [render_rule(name, spec, f, tp.labels, several) for f in _sort_durations(tp.for_values)]
        groups.append(group)
    return {"groups": groups}


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
