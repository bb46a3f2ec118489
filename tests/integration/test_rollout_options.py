"""Bad rollout options stop playbooks/rollout.yml before any host is touched, naming the fix."""

from __future__ import annotations

import json
import os

import pytest
from helpers import BIN, run


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rollout_components": ["all_smi"]}, "rollout_target is not given"),
        (
            {"rollout_target": "all", "rollout_components": ["all_smi"]},
            "rollout_versions is {}; give a mapping of the rollout_components to versions",
        ),
        (
            {"rollout_target": "all", "rollout_components": ["grafana"], "rollout_action": "install"},
            "rollout_components is ['grafana']; give a list out of node_exporter, all_smi, dcgm_exporter",
        ),
        (
            {
                "rollout_target": "all",
                "rollout_components": ["all_smi"],
                "rollout_action": "install",
                "rollout_strategy": "canary",
                "rollout_canary": "12.5%",
            },
            "rollout_canary: '12.5%' is neither a host count (5) nor a whole percentage",
        ),
        (
            {
                "rollout_target": "all",
                "rollout_components": ["all_smi"],
                "rollout_action": "install",
                "rollout_order": "shuffle",
            },
            "shuffle is refused",
        ),
    ],
    ids=["target", "versions", "component", "canary", "order"],
)
def test_bad_options_are_refused_with_the_fix(tmp_path, extra, message):
    extra = {"rollout_prometheus_url": "http://127.0.0.1:9", "rollout_alertmanager_url": "http://127.0.0.1:9", **extra}
    proc = run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "gpu-a,", "playbooks/rollout.yml", "-e", json.dumps(extra)],
        check=False,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in out, out[-3000:]
    assert "PLAY [Roll out batch by batch" not in out  # stopped in the options play
