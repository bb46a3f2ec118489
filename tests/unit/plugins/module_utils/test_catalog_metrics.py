"""Every metric name in the built-in alert catalog is one a role of this collection produces.

Names are checked against what the exporters' RELEASES serve (tests/emulator/released_surface.py,
read from all-smi v0.25.0 and dcgm-exporter 4.2.3-4.1.3 with file:line), against the fields our
dcgm-exporter counters file enables, and against the check runner's declared series. A
template on a name no release serves (all_smi_up, the Tenstorrent heartbeat, ...) would never
fire; one on a DCGM field our counters file does not enable would never fire either.
"""

import importlib.util
import re
from pathlib import Path

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import BUILTIN_RULE_TEMPLATES

ROOT = Path(__file__).resolve().parents[4]
_spec = importlib.util.spec_from_file_location("released_surface", ROOT / "tests" / "emulator" / "released_surface.py")
released = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(released)

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}

try:  # the check runner role's series (issue 9), the one source of their names
    from ansible_collections.accelmon.monitoring.plugins.module_utils.check_probes import METRICS as _CHECK_METRICS

    CHECK_RUNNER = set(_CHECK_METRICS)
except ImportError:  # before roles/check_runner is merged: the names its design fixes
    CHECK_RUNNER = {"accelmon_check_ok", "accelmon_check_duration_seconds",
                    "accelmon_check_last_run_timestamp_seconds", "nvme_critical_warning"}


def metric_names(expr):
    """Metric names of a PromQL expression (template placeholders and label lists removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", " ", text)  # ${param}
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    text = re.sub(r"\boffset\s+\w+", " ", text)
    text = re.sub(r"\b\d+(\.\d+)?(e\d+)?\b", " ", text)  # numbers (1e9)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS or re.fullmatch(r"\d+\w*", word):
            continue
        names.add(word)
    return names


def counters_csv_fields():
    path = ROOT / "roles" / "dcgm_exporter" / "templates" / "accelmon-counters.csv.j2"
    return {ln.split(",", 1)[0].strip() for ln in path.read_text().splitlines()
            if ln.strip() and not ln.startswith(("#", "{"))}


def produced():
    allsmi = set(released.ALLSMI) | {"all_smi_energy_consumed_joules_total"}
    return {
        "all-smi": allsmi,
        "dcgm-exporter": counters_csv_fields() & set(released.DCGM_FIELDS),
        "node_exporter": set(released.NODE_EXPORTER),
        "check runner": CHECK_RUNNER,
    }


def test_metric_names_parser():
    assert metric_names('100 * count by (a, b) ((up{job="node"} == 0) ${route}) > ${percent}') == {"up"}
    assert metric_names("max_over_time(all_smi_gpu_info[1h]) unless on (instance) x offset 10m") == {
        "all_smi_gpu_info", "x"}


def test_every_catalog_metric_is_produced_by_a_role():
    sources = produced()
    everything = set().union(*sources.values())
    for name, spec in sorted(BUILTIN_RULE_TEMPLATES.items()):
        names = metric_names(spec["expr"])
        assert names, name
        for metric in names:
            assert metric not in released.ALLSMI_NEVER_SERVED, (
                "%s watches %s: %s" % (name, metric, released.ALLSMI_NEVER_SERVED[metric]))
            assert metric in everything, (
                "%s watches %s, which no role of the collection produces (released exporters, our "
                "dcgm counters file, the check runner)" % (name, metric))


def test_dcgm_templates_only_use_fields_our_counters_file_enables():
    csv = counters_csv_fields()
    for name, spec in BUILTIN_RULE_TEMPLATES.items():
        for metric in metric_names(spec["expr"]):
            if metric.startswith(("DCGM_FI_", "DCGM_EXP_")):
                assert metric in csv, "%s needs %s in accelmon-counters.csv.j2" % (name, metric)


def test_xid_templates_use_the_windowed_count_not_the_sticky_gauge():
    for name, spec in BUILTIN_RULE_TEMPLATES.items():
        assert "DCGM_FI_DEV_XID_ERRORS" not in metric_names(spec["expr"]), name


def test_node_down_inhibits_every_host_alert():
    """NodeDown silences the alerts of its instance: every template but the node ones is in
    the alertmanager role's inhibition list (its default and its argument spec)."""
    import yaml

    defaults = yaml.safe_load((ROOT / "roles" / "alertmanager" / "defaults" / "main.yml").read_text())
    inhibited = set(defaults["alertmanager_node_down_inhibits"])
    missing = set(BUILTIN_RULE_TEMPLATES) - {"NodeDown", "ManyNodesDown"} - inhibited
    assert not missing, "add %s to alertmanager_node_down_inhibits" % sorted(missing)
