"""Generated `promtool test rules` cases for compiled rules, with the policy series as input.

Test code, not collection code: the measured series (node_exporter, all-smi with a fake
H200 device) are invented here. For a compiled plan and its policy series:

- threshold templates (HighCPUUsage, HighMemoryUsage, DiskSpaceLow,
  AcceleratorHighTemperature): one representative target per distinct threshold (group
  thresholds and target overrides alike) gets, with its own policy series, a reading just
  past / just short of each threshold; exactly the targets whose own threshold the reading
  passes alert, with the routing labels of their route series (severity, team,
  accelmon_receiver, free labels). A target whose rule is disabled gets the same reading
  and no alert.
- NodeDown: `up == 0` on an enabled and on a disabled target: only the enabled alerts.
- AcceleratorOffline: a device vanishing while `up == 1` fires; while `up == 0` it does not.

Annotations are not compared (they carry {{ $value }} and a query): run the cases against
strip_annotations() of the rule file; `promtool check rules` checks the real one.
"""

from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_series as ps
from ansible_collections.accelmon.monitoring.plugins.module_utils import rule_compiler as rc

INTERVAL = "1m"
_MARGIN = 2.0
_GPU_LABELS = {"gpu": "NVIDIA H200", "gpu_index": "0", "gpu_uuid": "GPU-00000000-0000-0000-0000-000000000000"}


def _series(metric, labels, values):
    return {"series": ps.series_text(metric, labels), "values": values}


def _const(value, samples):
    return "%sx%d" % (ps.format_value(value), samples)


def _cpu(host, value, samples):
    idle_per_min = round(60.0 * (1.0 - value / 100.0), 6)
    lab = {"instance": host, "job": "node", "cpu": "0", "mode": "idle"}
    values = "1000+%sx%d" % (ps.format_value(idle_per_min), samples)
    return [_series("node_cpu_seconds_total", lab, values)], {"instance": host, "job": "node"}


def _memory(host, value, samples):
    total = 1000000.0
    lab = {"instance": host, "job": "node"}
    return [
        _series("node_memory_MemTotal_bytes", lab, _const(total, samples)),
        _series("node_memory_MemAvailable_bytes", lab, _const(round(total * (1.0 - value / 100.0), 3), samples)),
    ], dict(lab)


def _disk(host, value, samples):
    size = 1000000.0
    lab = {"instance": host, "job": "node", "device": "/dev/nvme0n1p1", "fstype": "ext4", "mountpoint": "/"}
    return [
        _series("node_filesystem_size_bytes", lab, _const(size, samples)),
        _series("node_filesystem_avail_bytes", lab, _const(round(size * value / 100.0, 3), samples)),
    ], dict(lab)


def _temperature(host, value, samples):
    lab = dict(_GPU_LABELS, instance=host, job="allsmi")
    return [_series("all_smi_gpu_temperature_celsius", lab, _const(value, samples))], dict(lab)


# template -> (parameter, direction (+1 fires above, -1 below), upper bound or None, builder)
THRESHOLD_CASES = {
    "HighCPUUsage": ("cpu_percent", 1, 100.0, _cpu),
    "HighMemoryUsage": ("memory_percent", 1, 100.0, _memory),
    "DiskSpaceLow": ("free_percent", -1, 100.0, _disk),
    "AcceleratorHighTemperature": ("celsius", 1, None, _temperature),
}


def _probe(threshold, direction, upper, others, above):
    toward = direction if above else -direction
    gaps = [abs(o - threshold) / 2.0 for o in others if (o - threshold) * toward > 0]
    step = min([_MARGIN, *gaps])
    if upper is not None and toward > 0:
        step = min(step, (upper - threshold) / 2.0)
    if toward < 0:
        step = min(step, threshold / 2.0)
    return None if step <= 0 else round(threshold + toward * step, 6)


def _eval_minutes(for_):
    return int(-(-rc.duration_seconds(for_) // 60)) + 8


class _Policy:
    """The policy series of a plan, indexed per template and target."""

    def __init__(self, plan, series):
        self.plan = plan
        self.route = {}
        self.thresholds = {}
        self.threshold_labels = {}
        for metric, labels, value in series:
            key = (labels["alertname"], labels["instance"])
            if metric == ps.ROUTE_METRIC:
                self.route[key] = labels
            else:
                self.thresholds.setdefault(key, {})[labels["param"]] = value
                self.threshold_labels[key + (labels["param"],)] = labels
        # the routing labels of a target's alerts: its route series, or (templates of the
        # usual shape have none) its threshold series, which carry the same labels
        self.routing = dict(self.route)
        for (template, host, _param), labels in sorted(self.threshold_labels.items()):
            self.routing.setdefault((template, host), labels)

    def input_series(self, template, host, samples):
        out = []
        if (template, host) in self.route:
            out.append(_series(ps.ROUTE_METRIC, self.route[(template, host)], _const(1, samples)))
        for param, value in sorted(self.thresholds.get((template, host), {}).items()):
            labels = self.threshold_labels[(template, host, param)]
            out.append(_series(ps.THRESHOLD_METRIC, labels, _const(value, samples)))
        return out

    def alert_labels(self, template, host, measured):
        """Labels of the alert: the measured series' plus the copied routing labels."""
        tp = self.plan[template]
        route = self.routing[(template, host)]
        labels = dict(measured)
        for name in tp.labels:
            if name in route:
                labels[name] = route[name]
            else:
                labels.pop(name, None)
        if len(tp.for_values) > 1:
            labels[ps.FOR_LABEL] = route[ps.FOR_LABEL]
        return dict(sorted(labels.items()))


def generate_tests(plan, series, hosts, rule_files):
    """`promtool test rules` document (dict) for a plan, its policy series and its hosts."""
    policy = _Policy(plan, series)
    tests = []
    for name, (param, direction, upper, builder) in sorted(THRESHOLD_CASES.items()):
        if name not in plan:
            continue
        reps = {}
        for (template, host), values in sorted(policy.thresholds.items()):
            if template == name:
                reps.setdefault(float(values[param]), host)
        disabled = sorted(h for h in hosts if (name, h) not in policy.routing)[:1]
        thresholds = sorted(reps)
        minutes = max(_eval_minutes(policy.routing[(name, h)][ps.FOR_LABEL]) for h in reps.values())
        seen = set()
        for threshold in thresholds:
            others = [t for t in thresholds if t != threshold]
            for above in (True, False):
                value = _probe(threshold, direction, upper, others, above)
                if value is None or value in seen:
                    continue
                seen.add(value)
                inputs, alerts = [], []
                for rep_threshold, host in sorted(reps.items()):
                    measured, labels = builder(host, value, minutes + 5)
                    inputs.extend(measured)
                    inputs.extend(policy.input_series(name, host, minutes + 5))
                    if (value - rep_threshold) * direction > 0:
                        alerts.append({"exp_labels": policy.alert_labels(name, host, labels)})
                for host in disabled:
                    inputs.extend(builder(host, value, minutes + 5)[0])
                alerts.sort(key=lambda a: a["exp_labels"]["instance"])
                tests.append(
                    {
                        "name": "%s: reading %s (just %s threshold %s) on one target per threshold%s; alerting: %s"
                        % (
                            name,
                            ps.format_value(value),
                            "past" if above else "short of",
                            ps.format_value(threshold),
                            " and on %s (rule disabled)" % disabled[0] if disabled else "",
                            ", ".join(a["exp_labels"]["instance"] for a in alerts) or "none",
                        ),
                        "interval": INTERVAL,
                        "input_series": inputs,
                        "alert_rule_test": [{"eval_time": "%dm" % minutes, "alertname": name, "exp_alerts": alerts}],
                    }
                )
    if plan:
        tests.append(_policy_missing_test(policy))
    if "NodeDown" in plan:
        tests.append(_node_down_test(policy, hosts))
    if "AcceleratorOffline" in plan:
        host = sorted(h for t, h in policy.routing if t == "AcceleratorOffline")[0]
        tests.extend(_offline_tests(policy, host))
    return {"rule_files": list(rule_files), "evaluation_interval": INTERVAL, "tests": tests}


def _policy_missing_test(policy):
    """The policy series vanish (exporter down): AlertPolicySeriesMissing after its 2m."""
    inputs = [_series(ps.TARGETS_METRIC, {}, "%dx4 stale" % len({h for _t, h in policy.routing}))]
    return {
        "name": "AlertPolicySeriesMissing: the policy series vanish and stay away",
        "interval": INTERVAL,
        "input_series": inputs,
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "AlertPolicySeriesMissing", "exp_alerts": []},
            {
                "eval_time": "10m",
                "alertname": "AlertPolicySeriesMissing",
                "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
            },
        ],
    }


def _node_down_test(policy, hosts):
    enabled = sorted(h for t, h in policy.routing if t == "NodeDown")[0]
    disabled = sorted(h for h in hosts if ("NodeDown", h) not in policy.routing)
    inputs = policy.input_series("NodeDown", enabled, 30)
    inputs.append(_series("up", {"instance": enabled, "job": "node"}, "0x30"))
    for host in disabled[:1]:
        inputs.append(_series("up", {"instance": host, "job": "node"}, "0x30"))
    exp = policy.alert_labels("NodeDown", enabled, {"instance": enabled, "job": "node"})
    return {
        "name": "NodeDown: %s down alerts; %s down with the rule disabled does not"
        % (enabled, disabled[0] if disabled else "(no target)"),
        "interval": INTERVAL,
        "input_series": inputs,
        "alert_rule_test": [{"eval_time": "5m", "alertname": "NodeDown", "exp_alerts": [{"exp_labels": exp}]}],
    }


def _offline_tests(policy, host):
    info = dict(_GPU_LABELS, instance=host, job="allsmi", type="GPU")
    # the alert names the device by instance, gpu_uuid and model (gpu_index shifts when a
    # device drops out of all-smi's list)
    lost = {k: info[k] for k in ("instance", "job", "gpu_uuid", "gpu")}
    exp = [{"exp_labels": policy.alert_labels("AcceleratorOffline", host, lost)}]
    out = []
    for up_values, expect, what in (("1x30", exp, "fires while up == 1"), ("1x9 0x21", [], "stays quiet while up == 0")):
        inputs = policy.input_series("AcceleratorOffline", host, 30)
        inputs.append(_series("all_smi_gpu_info", info, "1x9 stale"))
        inputs.append(_series("up", {"instance": host, "job": "allsmi"}, up_values))
        out.append(
            {
                "name": "AcceleratorOffline: device of %s vanishes, %s" % (host, what),
                "interval": INTERVAL,
                "input_series": inputs,
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "AcceleratorOffline", "exp_alerts": []},
                    {"eval_time": "15m", "alertname": "AcceleratorOffline", "exp_alerts": expect},
                ],
            }
        )
    return out


def strip_annotations(rules):
    """A copy of a rule file dict without annotations."""
    return {
        "groups": [
            dict(g, rules=[{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]])
            for g in rules["groups"]
        ]
    }
