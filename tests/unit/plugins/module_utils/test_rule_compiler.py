"""Unit tests of module_utils.rule_compiler: grouping, selectors, labels, determinism."""

import random
import re
from pathlib import Path

import pytest
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
)
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[4]
HYBRID = ROOT / "inventory" / "examples" / "hybrid" / "hybrid.accelmon.yml"


def hosts_of(model):
    return {name: rc.host_entry(model.host_vars(name)) for name in model.targets}


@pytest.fixture(scope="module")
def hybrid():
    model = load_fleet(str(HYBRID))
    return model, hosts_of(model)


def selector_hosts(expr):
    """Host names selected by the first instance matcher of an expression."""
    m = re.search(r'instance(=~|=)"((?:[^"\\]|\\.)*)"', expr)
    assert m, expr
    text = m.group(2).replace("\\\\", "\\")
    if m.group(1) == "=":
        return {text}
    return {re.sub(r"\\(.)", r"\1", part) for part in re.split(r"(?<!\\)\|", text)}


def rules_of(compiled, template):
    for group in compiled["groups"]:
        if group["name"] == "accelmon.%s" % template:
            return group["rules"]
    return []


def param_set(host, name):
    rule = host["alert_rules"][name]
    alerting = host["alerting"]
    return (
        repr(sorted(rule["thresholds"].items())),
        rule["for"],
        rule["severity"],
        repr(sorted(rule["labels"].items())),
        alerting.get("team"),
        alerting.get("receiver"),
        repr(sorted((alerting.get("labels") or {}).items())),
    )


def test_rule_count_is_number_of_distinct_parameter_sets(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    for name in model.catalog.rule_templates:
        enabled = [h for h in hosts.values() if h["alert_rules"][name]["enabled"]]
        expected = len({param_set(h, name) for h in enabled})
        assert len(rules_of(compiled, name)) == expected, name
    # fewer rules than host x template pairs: grouping happened
    total = sum(len(g["rules"]) for g in compiled["groups"])
    assert total < len(hosts) * len(model.catalog.rule_templates)


def test_every_enabled_host_selected_exactly_once_per_template(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    for name in model.catalog.rule_templates:
        seen = []
        for rule in rules_of(compiled, name):
            seen.extend(selector_hosts(rule["expr"]))
        enabled = sorted(h for h, e in hosts.items() if e["alert_rules"][name]["enabled"])
        assert sorted(seen) == enabled, name


def test_disabled_hosts_are_not_selected(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    staging = {h for h, e in hosts.items() if e["alerting"]["receiver"] == "staging-chat"}
    assert staging
    selected = set()
    for rule in rules_of(compiled, "NodeDown"):
        selected |= selector_hosts(rule["expr"])
    assert selected and not (selected & staging)
    # a template disabled everywhere yields no group at all
    for entry in hosts.values():
        entry["alert_rules"] = dict(entry["alert_rules"])
        entry["alert_rules"]["NvlinkErrors"] = dict(entry["alert_rules"]["NvlinkErrors"], enabled=False)
    assert rules_of(rc.compile_rules(model.catalog, hosts), "NvlinkErrors") == []


def test_production_and_research_thresholds(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    by_host = {}
    for rule in rules_of(compiled, "HighCPUUsage"):
        for host in selector_hosts(rule["expr"]):
            by_host[host] = rule
    assert by_host["dc1-a01-gpu01"]["expr"].endswith("> 70")
    assert by_host["dc1-a02-mi300-01"]["expr"].endswith("> 99")
    assert by_host["i-1234567890"]["expr"].endswith("> 60")
    assert "above 70%" in by_host["dc1-a01-gpu01"]["annotations"]["summary"]
    prod = by_host["dc1-a01-gpu01"]["labels"]
    assert prod["severity"] == "warning" and prod["team"] == "ml-training"
    assert prod["accelmon_receiver"] == "oncall-pager"
    assert re.match(r"^[0-9a-f]{12}$", prod["accelmon_policy"])
    # rule labels from the policy (hall-a hot aisle) are carried
    temp = [r for r in rules_of(compiled, "AcceleratorHighTemperature") if r["expr"].endswith("> 80")]
    assert temp and all(r["labels"]["facility"] == "hall-a-hot-aisle" for r in temp)


def test_host_without_team_has_no_team_label(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts)
    rule = next(r for r in rules_of(compiled, "HighCPUUsage") if "dc1-a01-cpu01" in selector_hosts(r["expr"]))
    assert "team" not in rule["labels"]


def test_deterministic_whatever_the_input_order(hybrid):
    model, hosts = hybrid
    first = rc.dump_rules_yaml(rc.compile_rules(model.catalog, hosts))
    items = list(hosts.items())
    for seed in range(5):
        random.Random(seed).shuffle(items)
        assert rc.dump_rules_yaml(rc.compile_rules(model.catalog, dict(items))) == first


def test_policy_hash_stable_when_hosts_join_a_set(hybrid):
    model, hosts = hybrid
    before = {
        r["labels"]["accelmon_policy"] for g in rc.compile_rules(model.catalog, hosts)["groups"] for r in g["rules"]
    }
    more = dict(hosts)
    more["dc1-a01-gpu99"] = hosts["dc1-a01-gpu01"]
    after = {
        r["labels"]["accelmon_policy"] for g in rc.compile_rules(model.catalog, more)["groups"] for r in g["rules"]
    }
    assert before == after


def test_selector_escaping():
    names = ["node-1.dc1.example.com", "node-10.dc1.example.com", "gpu01"]
    sel = rc.instance_selector(names)
    assert sel == r'instance=~"gpu01|node-1\\.dc1\\.example\\.com|node-10\\.dc1\\.example\\.com"'
    # The PromQL string value is a regex that Prometheus anchors: it must match exactly the names.
    value = sel.split("=~", 1)[1][1:-1].replace("\\\\", "\\")
    regex = re.compile("^(?:%s)$" % value)
    assert all(regex.match(n) for n in names)
    assert not regex.match("node-1xdc1.example.com")
    assert not regex.match("gpu011")
    assert rc.instance_selector(["only.one"]) == 'instance="only.one"'
    assert rc.regex_escape("a+b(c)|d") == r"a\+b\(c\)\|d"
    with pytest.raises(rc.RuleCompileError):
        rc.instance_selector([])


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9.-]{0,12}", fullmatch=True),
        st.tuples(st.sampled_from([60, 70, 75, 90, 99]), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_property_one_rule_per_distinct_enabled_threshold(assignment):
    catalog = Catalog()
    defaults = catalog.defaults()
    hosts = {}
    for name, (cpu, enabled) in assignment.items():
        rules = {
            "HighCPUUsage": dict(
                defaults["alert_rules"]["HighCPUUsage"], enabled=enabled, thresholds={"cpu_percent": cpu}
            )
        }
        hosts[name] = {"alert_rules": rules, "alerting": defaults["alerting"]}
    compiled = rc.compile_rules(catalog, hosts)
    rules = rules_of(compiled, "HighCPUUsage")
    wanted = {cpu for cpu, enabled in assignment.values() if enabled}
    assert len(rules) == len(wanted)
    for rule in rules:
        cpu = int(rule["expr"].rsplit("> ", 1)[1])
        assert selector_hosts(rule["expr"]) == {h for h, (c, e) in assignment.items() if e and c == cpu}


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
        "infrastructure:aws/us-east-1": {
            "provider": "aws",
            "alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 90}}},
        },
        "infrastructure:aws/us-east-1/us-east-1a": {},
        "logical:ml-training": {
            "alert_rules": {
                "HighCPUUsage": {"thresholds": {"cpu_percent": 95}},
                "GpuPowerHigh": {"thresholds": {"watts": 650}},
            }
        },
        "environment:production": {
            "alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 70}, "strategy": "override"}},
            "alerting": {"receiver": "oncall-pager"},
        },
        "environment:staging": {"alert_rules": {"NodeDown": {"enabled": False}}},
    },
    "targets": {
        "i-1234567890": {
            "address": "10.0.1.50",
            "primary_group": "infrastructure:aws/us-east-1/us-east-1a",
            "groups": ["logical:ml-training", "environment:production"],
            "overrides": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 60}}}},
        },
        "i-staging.1": {
            "address": "10.0.1.60",
            "primary_group": "infrastructure:aws/us-east-1/us-east-1a",
            "groups": ["environment:staging"],
        },
    },
}


def test_custom_model_template_behaves_like_a_builtin():
    model = build_model([(FLEET_MODEL_DOC, "fleet.yml")])
    compiled = rc.compile_rules(model.catalog, hosts_of(model))
    power = rules_of(compiled, "GpuPowerHigh")
    assert sorted(r["expr"] for r in power) == [
        'all_smi_gpu_power_consumption_watts{instance="i-1234567890"} > 650',
        'all_smi_gpu_power_consumption_watts{instance="i-staging.1"} > 700',
    ]
    p650 = next(r for r in power if r["expr"].endswith("650"))
    assert p650["annotations"]["summary"] == "GPU power above 650 W on {{ $labels.instance }}"
    assert p650["for"] == "5m" and p650["labels"]["severity"] == "warning"
    cpu = rules_of(compiled, "HighCPUUsage")
    assert sorted(r["expr"].rsplit("> ", 1)[1] for r in cpu) == ["60", "90"]
    assert [selector_hosts(r["expr"]) for r in rules_of(compiled, "NodeDown")] == [{"i-1234567890"}]
    # Without the model's templates the compiler says what is missing.
    with pytest.raises(rc.RuleCompileError, match="GpuPowerHigh has no template"):
        rc.compile_rules(Catalog(), hosts_of(model))


def test_reserved_and_invalid_labels_are_refused(hybrid):
    model, hosts = hybrid
    host = dict(hosts["gce-a3-0"])
    host["alert_rules"] = dict(host["alert_rules"])
    host["alert_rules"]["NodeDown"] = dict(host["alert_rules"]["NodeDown"], labels={"severity": "page"})
    with pytest.raises(rc.RuleCompileError, match="reserved"):
        rc.compile_rules(model.catalog, {"gce-a3-0": host})
    host["alert_rules"]["NodeDown"] = dict(host["alert_rules"]["NodeDown"], labels={"bad-name": "x"})
    with pytest.raises(rc.RuleCompileError, match="not a valid Prometheus label name"):
        rc.compile_rules(model.catalog, {"gce-a3-0": host})


def test_rule_label_team_overrides_alerting_team(hybrid):
    model, hosts = hybrid
    host = dict(hosts["gce-a3-0"])
    host["alert_rules"] = dict(host["alert_rules"])
    host["alert_rules"]["NodeDown"] = dict(host["alert_rules"]["NodeDown"], labels={"team": "sre"})
    rule = rules_of(rc.compile_rules(model.catalog, {"gce-a3-0": host}), "NodeDown")[0]
    assert rule["labels"]["team"] == "sre"


def test_values_and_durations():
    assert rc.format_value(70) == "70"
    assert rc.format_value(70.0) == "70"
    assert rc.format_value(0.5) == "0.5"
    assert rc.duration_seconds("1h30m") == 5400
    assert rc.duration_seconds("0s") == 0
    with pytest.raises(rc.RuleCompileError):
        rc.duration_seconds("5 minutes")


def test_interval_and_prefix(hybrid):
    model, hosts = hybrid
    compiled = rc.compile_rules(model.catalog, hosts, group_prefix="fleet", interval="30s")
    assert all(g["name"].startswith("fleet.") and g["interval"] == "30s" for g in compiled["groups"])
    assert [g["name"] for g in compiled["groups"]] == sorted(g["name"] for g in compiled["groups"])


def test_generated_threshold_tests_cover_production_vs_research(hybrid):
    model, hosts = hybrid
    plan = rc.plan_rules(model.catalog, hosts)
    doc = rc.generate_tests(plan, ["rules.yml"])
    cpu72 = [t for t in doc["tests"] if t["name"].startswith("HighCPUUsage: reading 72 ")]
    assert len(cpu72) == 1
    fired = {a["exp_labels"]["instance"] for a in cpu72[0]["alert_rule_test"][0]["exp_alerts"]}
    # representative of the 70 sets alert, the research representative (99) does not
    assert "dc1-a02-mi300-01" not in fired and "gce-a3-0" in fired
    offline = [t for t in doc["tests"] if t["name"].startswith("AcceleratorOffline")]
    assert len(offline) == 2 * len(plan["AcceleratorOffline"])
    stripped = rc.strip_annotations(rc.render_plan(model.catalog, plan))
    assert all("annotations" not in r for g in stripped["groups"] for r in g["rules"])
