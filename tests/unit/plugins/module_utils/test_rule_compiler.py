"""Unit tests of module_utils.rule_compiler and policy_series: rules fixed per template and
`for`, per-target policy as series, labels, sharding, determinism, model templates."""

import copy
import random
import re
from pathlib import Path

import pytest
from ansible_collections.accelmon.monitoring.plugins.module_utils import (
    policy_series as ps,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils import (
    rule_compiler as rc,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import (
    load_fleet,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import (
    build_model,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import (
    Catalog,
    validate_rule_template,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
)
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[4]
HYBRID = ROOT / "inventory" / "examples" / "hybrid" / "hybrid.accelmon.yml"


def hosts_of(model):
    return {name: ps.host_entry(model.host_vars(name)) for name in model.targets}


@pytest.fixture(scope="module")
def hybrid():
    model = load_fleet(str(HYBRID))
    return model, hosts_of(model)


def rules_of(compiled, template):
    for group in compiled["groups"]:
        if group["name"] == "accelmon.%s" % template:
            return group["rules"]
    return []


def series_of(series, metric, template):
    return {s[1]["instance"]: s for s in series if s[0] == metric and s[1]["alertname"] == template}


def test_rule_count_is_templates_times_distinct_for(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    for name in model.catalog.rule_templates:
        fors = {h["alert_rules"][name]["for"] for h in hosts.values() if h["alert_rules"][name]["enabled"]}
        assert sorted(r["for"] for r in rules_of(compiled, name)) == sorted(fors, key=rc.duration_seconds), name
    text = rc.dump_rules_yaml(compiled)
    # no host and no threshold value in any rule
    assert not any(host in text for host in hosts)
    assert " > 70" not in text and "instance=~" not in text


def test_rules_do_not_change_when_thresholds_or_hosts_change(hybrid):
    model, hosts = hybrid
    before = rc.dump_rules_yaml(rc.compile_rules(model.catalog, hosts))
    moved = dict(hosts)
    entry = dict(moved["dc1-a01-gpu01"])
    entry["alert_rules"] = dict(entry["alert_rules"])
    cpu = entry["alert_rules"]["HighCPUUsage"]
    entry["alert_rules"]["HighCPUUsage"] = dict(cpu, thresholds={"cpu_percent": 42})
    moved["dc1-a01-gpu01"] = entry
    moved["dc1-a01-gpu99"] = hosts["dc1-a01-gpu01"]
    assert rc.dump_rules_yaml(rc.compile_rules(model.catalog, moved)) == before
    _plan, series = rc.plan_rules(model.catalog, moved)
    assert series_of(series, ps.THRESHOLD_METRIC, "HighCPUUsage")["dc1-a01-gpu01"][2] == 42


def test_rule_joins_threshold_and_route_series(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    rule = rules_of(compiled, "HighCPUUsage")[0]
    # one join: the threshold series filters by the target's own value and carries the labels
    assert rule["expr"] == (
        '100 * (1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > on(instance) '
        "group_left(accelmon_receiver, severity, team) "
        'accelmon_alert_threshold{accelmon_for="10m",alertname="HighCPUUsage",param="cpu_percent"}'
    )
    assert "labels" not in rule  # severity and routing come from the policy series
    assert "query" not in rule["annotations"]["summary"]  # no query per alert and evaluation
    # a template without thresholds joins the route series
    node_down = rules_of(compiled, "NodeDown")[0]
    assert node_down["expr"] == (
        '((max_over_time(up{job="node"}[30s]) or up{job="node"}) == 0) * on(instance) '
        'group_left(accelmon_receiver, severity, team) accelmon_alert_route{accelmon_for="0s",alertname="NodeDown"}'
    )


def test_other_template_forms_join_each_threshold_then_the_route():
    spec = {"expr": "a > ${x} or b < ${y}", "parameters": {"x": {}, "y": {}}}
    expr = rc.rule_expr("T", spec, "1m", {"severity"})
    assert expr == (
        '(a > on(instance) group_left accelmon_alert_threshold{accelmon_for="1m",alertname="T",param="x"} '
        'or b < on(instance) group_left accelmon_alert_threshold{accelmon_for="1m",alertname="T",param="y"}) '
        '* on(instance) group_left(severity) accelmon_alert_route{accelmon_for="1m",alertname="T"}'
    )
    assert ps.final_comparison("sum by (instance) (a or b) > ${x}", {"x": {}}) == "x"
    assert ps.final_comparison("a or b > ${x}", {"x": {}}) is None
    assert ps.final_comparison('a{l="or"} > bool ${x}', {"x": {}}) == "x"
    assert ps.final_comparison("a - ${x}", {"x": {}}) is None


def test_threshold_series_follow_the_effective_policy(hybrid):
    model, hosts = hybrid
    _plan, series = rc.plan_rules(model.catalog, hosts)
    cpu = series_of(series, ps.THRESHOLD_METRIC, "HighCPUUsage")
    assert cpu["dc1-a01-gpu01"][2] == 70  # production group
    assert cpu["dc1-a02-mi300-01"][2] == 99  # research group
    assert cpu["i-1234567890"][2] == 60  # target override
    for host, entry in hosts.items():
        for name, rule in entry["alert_rules"].items():
            for param, value in rule["thresholds"].items():
                got = [s for s in series if s[0] == ps.THRESHOLD_METRIC and (
                    s[1]["instance"], s[1]["alertname"], s[1]["param"]) == (host, name, param)]
                assert [s[2] for s in got] == ([value] if rule["enabled"] else []), (host, name, param)


def test_disabled_rule_has_no_series(hybrid):
    model, hosts = hybrid
    _plan, series = rc.plan_rules(model.catalog, hosts)
    staging = {h for h, e in hosts.items() if e["alerting"]["receiver"] == "staging-chat"}
    assert staging
    routed = set(series_of(series, ps.ROUTE_METRIC, "NodeDown"))
    assert routed and not (routed & staging)
    assert routed == {h for h, e in hosts.items() if e["alert_rules"]["NodeDown"]["enabled"]}
    # a template disabled everywhere yields no group at all
    off = {}
    for host, entry in hosts.items():
        off[host] = dict(entry, alert_rules=dict(entry["alert_rules"]))
        off[host]["alert_rules"]["NvlinkErrors"] = dict(entry["alert_rules"]["NvlinkErrors"], enabled=False)
    assert rules_of(rc.compile_rules(model.catalog, off), "NvlinkErrors") == []


def test_route_labels(hybrid):
    model, hosts = hybrid
    _plan, series = rc.plan_rules(model.catalog, hosts)
    # the usual shape (`<expr> > ${p}`): the threshold series carry the routing labels, no route series
    assert series_of(series, ps.ROUTE_METRIC, "HighCPUUsage") == {}
    prod = series_of(series, ps.THRESHOLD_METRIC, "HighCPUUsage")["dc1-a01-gpu01"][1]
    assert prod["severity"] == "warning" and prod["team"] == "ml-training"
    assert prod["accelmon_receiver"] == "oncall-pager" and prod["accelmon_for"] == "10m"
    temp = series_of(series, ps.THRESHOLD_METRIC, "AcceleratorHighTemperature")
    hot = [lb for _m, lb, _v in temp.values() if lb.get("facility") == "hall-a-hot-aisle"]
    assert hot
    cpu01 = series_of(series, ps.THRESHOLD_METRIC, "HighCPUUsage")["dc1-a01-cpu01"][1]
    assert "team" not in cpu01
    # a template without thresholds: the route series, with the primary group
    down = series_of(series, ps.ROUTE_METRIC, "NodeDown")["dc1-a01-gpu01"][1]
    assert down["accelmon_receiver"] == "oncall-pager" and down["team"] == "ml-training"
    assert down["group"] == hosts["dc1-a01-gpu01"]["primary_group"]
    # every shape but the usual one keeps its route series
    for name, spec in model.catalog.rule_templates.items():
        routed = bool(series_of(series, ps.ROUTE_METRIC, name))
        enabled = any(e["alert_rules"].get(name, {}).get("enabled") for e in hosts.values())
        assert routed == (enabled and ps.routes_needed(spec)), name


def test_deterministic_whatever_the_input_order(hybrid):
    model, hosts = hybrid
    plan, series = rc.plan_rules(model.catalog, hosts)
    first = rc.dump_rules_yaml(rc.render_plan(model.catalog, plan)) + ps.exposition(series)
    items = list(hosts.items())
    for seed in range(5):
        random.Random(seed).shuffle(items)
        plan, series = rc.plan_rules(model.catalog, dict(items))
        assert rc.dump_rules_yaml(rc.render_plan(model.catalog, plan)) + ps.exposition(series) == first


def test_exposition_is_one_line_per_target_and_parameter(hybrid):
    model, hosts = hybrid
    _plan, series = rc.plan_rules(model.catalog, hosts)
    text = ps.exposition(series)
    mine = [ln for ln in text.splitlines() if ln.startswith("accelmon_alert_threshold{")
            and 'alertname="HighCPUUsage"' in ln and 'instance="i-1234567890"' in ln]
    assert len(mine) == 1 and mine[0].endswith(" 60") and 'param="cpu_percent"' in mine[0]
    assert 'accelmon_receiver="oncall-pager"' in mine[0] and "group=" not in mine[0]
    assert text.count("# TYPE accelmon_alert_threshold gauge") == 1
    assert len([t for t in text.splitlines() if not t.startswith("#")]) == len(series) + 1
    assert "\naccelmon_alert_policy_targets %d\n" % len(hosts) in text


def test_reserved_labels_are_refused(hybrid):
    model, hosts = hybrid
    for label in ("severity", "instance", "group", "accelmon_for", "accelmon_param_x"):
        host = dict(hosts["gce-a3-0"])
        host["alert_rules"] = dict(host["alert_rules"])
        host["alert_rules"]["NodeDown"] = dict(host["alert_rules"]["NodeDown"], labels={label: "x"})
        with pytest.raises(rc.RuleCompileError, match="reserved"):
            rc.compile_rules(model.catalog, {"gce-a3-0": host})


def test_rule_label_team_overrides_alerting_team(hybrid):
    model, hosts = hybrid
    host = dict(hosts["gce-a3-0"])
    host["alert_rules"] = dict(host["alert_rules"])
    host["alert_rules"]["NodeDown"] = dict(host["alert_rules"]["NodeDown"], labels={"team": "sre"})
    _plan, series = rc.plan_rules(model.catalog, {"gce-a3-0": host})
    assert series_of(series, ps.ROUTE_METRIC, "NodeDown")["gce-a3-0"][1]["team"] == "sre"


def test_aggregating_template_counts_per_parameter_set(hybrid):
    model, hosts = hybrid
    plan, series = rc.plan_rules(model.catalog, hosts)
    rule = rules_of(rc.render_plan(model.catalog, plan), "ManyNodesDown")[0]
    by = ", ".join(sorted(plan["ManyNodesDown"].labels))
    assert "accelmon_param_percent" in by
    assert rule["expr"].startswith(
        '100 * count by (%s) (((max_over_time(up{job="node"}[30s]) or up{job="node"}) == 0) '
        "* on(instance) group_left(%s) " % (by, by)
    )
    assert "> on(%s) max by (%s) (accelmon_alert_threshold{" % (by, by) in rule["expr"]
    route = series_of(series, ps.ROUTE_METRIC, "ManyNodesDown")["gce-a3-0"][1]
    assert route["accelmon_param_percent"] == "10"


def test_several_for_values_get_a_label(hybrid):
    model, hosts = hybrid
    hosts = copy.deepcopy(hosts)
    hosts[sorted(hosts)[0]]["alert_rules"]["HighCPUUsage"]["for"] = "42m"
    rules = rules_of(rc.compile_rules(model.catalog, hosts), "HighCPUUsage")
    assert len(rules) == 2
    assert [r["labels"]["accelmon_for"] for r in rules] == [r["for"] for r in rules]


def test_shard_of_partitions_and_is_stable():
    names = ["node%05d.example" % i for i in range(200)]
    shards = [ps.shard_of(n, 3) for n in names]
    assert set(shards) == {0, 1, 2}
    # Prometheus hashmod: md5, low 8 bytes big-endian (checked against a real Prometheus in tests/integration)
    import hashlib

    digest = hashlib.md5(b"lab-h200").digest()  # noqa: S324
    assert ps.shard_of("lab-h200", 7) == int.from_bytes(digest[8:], "big") % 7


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9.-]{0,12}", fullmatch=True),
                       st.tuples(st.sampled_from([60, 70, 75, 90, 99]), st.booleans()),
                       min_size=1, max_size=40))
def test_property_one_rule_and_one_series_per_enabled_host(assignment):
    catalog = Catalog()
    defaults = catalog.defaults()
    hosts = {}
    for name, (cpu, enabled) in assignment.items():
        rules = {"HighCPUUsage": dict(defaults["alert_rules"]["HighCPUUsage"], enabled=enabled,
                                      thresholds={"cpu_percent": cpu})}
        hosts[name] = {"alert_rules": rules, "alerting": defaults["alerting"]}
    plan, series = rc.plan_rules(catalog, hosts)
    rules = rules_of(rc.render_plan(catalog, plan), "HighCPUUsage")
    wanted = {h: cpu for h, (cpu, enabled) in assignment.items() if enabled}
    assert len(rules) == (1 if wanted else 0)
    got = {s[1]["instance"]: s[2] for s in series if s[0] == ps.THRESHOLD_METRIC}
    assert got == wanted
    for count in (2, 3):
        parts = [ps.policy_series(catalog, hosts, count, i) for i in range(count)]
        assert sorted(s[1]["instance"] for p in parts for s in p if s[0] == ps.THRESHOLD_METRIC) == sorted(wanted)


FLEET_MODEL_DOC = {
    "rule_templates": {
        "GpuPowerHigh": {
            "expr": "all_smi_gpu_power_consumption_watts{${selector}} > ${watts}",
            "parameters": {"watts": {"type": "number", "default": 700}},
            "severity": "warning",
            "for": "5m",
            "summary": "GPU power above ${watts} W on {{ $labels.instance }}",
        },
    },
    "groups": {
        "infrastructure:aws/us-east-1": {"provider": "aws",
                                         "alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 90}}}},
        "infrastructure:aws/us-east-1/us-east-1a": {},
        "logical:ml-training": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 95}},
                                                "GpuPowerHigh": {"thresholds": {"watts": 650}}}},
        "environment:production": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 70},
                                                                    "strategy": "override"}},
                                   "alerting": {"receiver": "oncall-pager"}},
        "environment:staging": {"alert_rules": {"NodeDown": {"enabled": False}}},
    },
    "targets": {
        "i-1234567890": {"address": "10.0.1.50", "primary_group": "infrastructure:aws/us-east-1/us-east-1a",
                         "groups": ["logical:ml-training", "environment:production"],
                         "overrides": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 60}}}}},
        "i-staging.1": {"address": "10.0.1.60", "primary_group": "infrastructure:aws/us-east-1/us-east-1a",
                        "groups": ["environment:staging"]},
    },
}


def test_custom_model_template_behaves_like_a_builtin():
    model = build_model([(FLEET_MODEL_DOC, "fleet.yml")])
    plan, series = rc.plan_rules(model.catalog, hosts_of(model))
    power = rules_of(rc.render_plan(model.catalog, plan), "GpuPowerHigh")
    assert [r["expr"] for r in power] == [
        "all_smi_gpu_power_consumption_watts > on(instance) group_left(accelmon_receiver, severity) "
        'accelmon_alert_threshold{accelmon_for="5m",alertname="GpuPowerHigh",param="watts"}'
    ]
    assert power[0]["annotations"]["summary"] == "GPU power above the threshold W on {{ $labels.instance }}"
    watts = {h: s[2] for h, s in series_of(series, ps.THRESHOLD_METRIC, "GpuPowerHigh").items()}
    assert watts == {"i-1234567890": 650, "i-staging.1": 700}
    assert set(series_of(series, ps.ROUTE_METRIC, "NodeDown")) == {"i-1234567890"}
    # Without the model's templates the compiler says what is missing.
    with pytest.raises(rc.RuleCompileError, match="GpuPowerHigh has no template"):
        rc.compile_rules(Catalog(), hosts_of(model))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("my_metric{${selector}} > ${limit}", None),
        ("my_metric > bool ${limit}", None),
        ("rate(my_metric[${limit}]) > 1", "must stand right after a binary operator"),
        ("${limit} < my_metric", "must stand right after a binary operator"),
        ("count by (${by}) (my_metric) > ${limit}", "both ${by} and ${route}"),
    ],
)
def test_model_template_expr_forms(expr, message):
    spec = {"expr": expr, "parameters": {"limit": {"type": "number", "default": 1}}}
    if message is None:
        assert validate_rule_template("MyRule", spec)["expr"] == expr
    else:
        with pytest.raises(FleetModelError, match=re.escape(message)):
            validate_rule_template("MyRule", spec)


def test_model_template_parameters_are_numbers():
    spec = {"expr": "my_metric > ${names}", "parameters": {"names": {"type": "string_list", "default": []}}}
    with pytest.raises(FleetModelError, match="threshold is a series value"):
        validate_rule_template("MyRule", spec)


def test_values_and_durations():
    assert ps.format_value(70) == "70"
    assert ps.format_value(70.0) == "70"
    assert ps.format_value(0.5) == "0.5"
    assert rc.duration_seconds("1h30m") == 5400
    assert rc.duration_seconds("0s") == 0
    with pytest.raises(rc.RuleCompileError):
        rc.duration_seconds("5 minutes")


def test_policy_health_rule(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    assert rules_of(compiled, "AlertPolicy") == [rc.POLICY_HEALTH_RULE]
    assert rc.POLICY_HEALTH_RULE["expr"] == "absent(accelmon_alert_policy_targets)"
    assert rc.compile_rules(model.catalog, {}) == {"groups": []}


def test_interval_and_prefix(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts, group_prefix="fleet", interval="30s")
    assert all(g["name"].startswith("fleet.") and g["interval"] == "30s" for g in compiled["groups"])
    assert [g["name"] for g in compiled["groups"]] == sorted(g["name"] for g in compiled["groups"])


def test_global_groups_are_the_templates_that_count_over_targets(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    glob = rc.global_groups(model.catalog, compiled)
    assert [g["name"] for g in glob["groups"]] == ["accelmon.ManyNodesDown"]
    assert glob["groups"][0] == next(g for g in compiled["groups"] if g["name"] == "accelmon.ManyNodesDown")
    # a prefix other than the default, and a fleet where ManyNodesDown is disabled everywhere
    assert rc.global_groups(model.catalog, rc.compile_rules(model.catalog, hosts, group_prefix="x"), "x")["groups"]
    off = copy.deepcopy(hosts)
    for h in off.values():
        h["alert_rules"]["ManyNodesDown"]["enabled"] = False
    assert rc.global_groups(model.catalog, rc.compile_rules(model.catalog, off)) == {"groups": []}
