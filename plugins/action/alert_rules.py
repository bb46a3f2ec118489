# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Action plugin behind accelmon.monitoring.alert_rules (documentation in plugins/modules).

A thin adapter: collects host variables on the controller, lets module_utils.policy_series
and module_utils.rule_compiler do the work, and writes the rule file and the policy-series
file through ansible.builtin.copy's action (remote transfer, `validate`, check mode, diff
and backup all come from there, as for ansible.builtin.template).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import (
    TEMPLATE_CATALOG_KEYS,
    Catalog,
    validate_rule_template,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_series import (
    exposition,
    host_entry,
    shard_of,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.rule_compiler import (
    GROUP_PREFIX,
    RuleCompileError,
    dump_rules_yaml,
    global_groups,
    plan_rules,
    render_plan,
    summarize,
)

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str"},
    "dest": {"type": "path"},
    "global_dest": {"type": "path"},
    "rule_templates": {"type": "dict"},
    "group_prefix": {"type": "str", "default": GROUP_PREFIX},
    "interval": {"type": "str"},
    "validate_command": {"type": "str", "default": "promtool check rules %s"},
    "policy_dest": {"type": "path"},
    "policy_validate_command": {"type": "str", "default": "/bin/sh -c 'promtool check metrics < \"$0\"' %s"},
    "shard_count": {"type": "int", "default": 1},
    "shard_index": {"type": "int", "default": 0},
    "mode": {"type": "raw", "default": "0644"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "backup": {"type": "bool", "default": False},
    "return_rules": {"type": "bool", "default": True},
}
POLICY_VAR = "accelmon_effective_policy"
TEMPLATES_VAR = "accelmon_rule_templates"
GROUP_VAR = "accelmon_primary_group"


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)

        catalog = self._catalog(args.get("rule_templates") or task_vars.get(TEMPLATES_VAR))
        hosts = self._hosts(args.get("hosts"), task_vars)
        if not hosts:
            raise AnsibleActionFail(
                "no host has %s: run against an accelmon.monitoring.fleet inventory, or list hosts that do" % POLICY_VAR
            )
        if args["shard_count"] < 1 or not 0 <= args["shard_index"] < args["shard_count"]:
            raise AnsibleActionFail(
                "shard_index must lie in 0..shard_count-1 (got %d of %d)" % (args["shard_index"], args["shard_count"])
            )
        try:
            plan, series = plan_rules(catalog, hosts)
            rules = render_plan(catalog, plan, args["group_prefix"], args.get("interval"))
        except RuleCompileError as exc:
            raise AnsibleActionFail("alert rules: %s" % exc)
        if args["shard_count"] > 1:
            own = {h for h in hosts if shard_of(h, args["shard_count"]) == args["shard_index"]}
            series = [s for s in series if s[1]["instance"] in own]

        summary = summarize(plan)
        result.update(
            changed=False,
            rule_count=sum(t["rules"] for t in summary.values()),
            host_count=len(hosts),
            policy_series_count=len(series),
            templates=summary,
        )
        if args["return_rules"]:
            result["rules"] = rules
        if args.get("dest"):
            written = self._write(args["dest"], args["validate_command"], args, dump_rules_yaml(rules), task_vars)
            result.update(written)
            if written.get("failed"):
                return result
        if args.get("global_dest"):
            written = self._write(
                args["global_dest"],
                args["validate_command"],
                args,
                dump_rules_yaml(global_groups(catalog, rules, args["group_prefix"])),
                task_vars,
            )
            result["global_rules"] = written
            result["changed"] = bool(result.get("changed") or written.get("changed"))
            if written.get("failed"):
                result.update(failed=True, msg=written.get("msg"))
                return result
        if args.get("policy_dest"):
            written = self._write(
                args["policy_dest"], args["policy_validate_command"], args, exposition(series), task_vars
            )
            result["policy"] = written
            result["changed"] = bool(result.get("changed") or written.get("changed"))
            if written.get("failed"):
                result.update(failed=True, msg=written.get("msg"))
        return result

    # -- inputs ---------------------------------------------------------------------------

    def _catalog(self, rule_templates):
        """Model templates as the inventory plugin set them (validated there, used as they are);
        templates given otherwise (the rule_templates option, raw -e variables) are validated here."""
        if not rule_templates:
            return Catalog()
        if not isinstance(rule_templates, dict):
            raise AnsibleActionFail("rule_templates must be a mapping of template name to definition")
        out = {}
        try:
            for name, spec in rule_templates.items():
                if isinstance(spec, dict) and set(TEMPLATE_CATALOG_KEYS) <= set(spec):
                    out[name] = spec
                else:
                    out[name] = validate_rule_template(name, spec)
        except FleetModelError as exc:
            raise AnsibleActionFail("rule_templates: %s" % exc)
        return Catalog(out)

    def _hosts(self, names, task_vars):
        hostvars = task_vars.get("hostvars") or {}
        explicit = names is not None
        if not explicit:
            names = (task_vars.get("groups") or {}).get("all") or []
        hosts = {}
        for name in names:
            if name not in hostvars:
                raise AnsibleActionFail("host %s is not in the inventory" % name)
            hvars = hostvars[name]
            if POLICY_VAR not in hvars:
                if explicit:
                    raise AnsibleActionFail(
                        "host %s has no %s (is it in the accelmon fleet inventory?)" % (name, POLICY_VAR)
                    )
                continue
            hosts[name] = host_entry({POLICY_VAR: hvars[POLICY_VAR], GROUP_VAR: hvars.get(GROUP_VAR)})
        return hosts

    # -- output ---------------------------------------------------------------------------

    def _write(self, dest, validate_command, args, content, task_vars):
        new_task = self._task.copy()
        copy_args = {"dest": dest, "mode": args["mode"], "backup": args["backup"]}
        for key in ("owner", "group"):
            if args.get(key):
                copy_args[key] = args[key]
        if validate_command:
            if "%s" not in validate_command:
                raise AnsibleActionFail(
                    "validate commands must contain %%s for the file to check, got %r" % validate_command
                )
            copy_args["validate"] = validate_command
        local_tempdir = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
        try:
            src = os.path.join(local_tempdir, os.path.basename(dest) or "generated")
            with open(to_bytes(src, errors="surrogate_or_strict"), "wb") as handle:
                handle.write(to_bytes(content, errors="surrogate_or_strict"))
            copy_args["src"] = src
            new_task.args = copy_args
            copy_action = self._shared_loader_obj.action_loader.get(
                "ansible.legacy.copy",
                task=new_task,
                connection=self._connection,
                play_context=self._play_context,
                loader=self._loader,
                templar=self._templar,
                shared_loader_obj=self._shared_loader_obj,
            )
            copied = copy_action.run(task_vars=task_vars)
        finally:
            shutil.rmtree(to_bytes(local_tempdir, errors="surrogate_or_strict"), ignore_errors=True)
        if copied.get("failed"):
            msg = to_text(copied.get("msg") or "")
            if "validat" in msg.lower() or copied.get("stderr"):
                copied["msg"] = "the generated file %s failed validation (%s); the previous file is kept: %s" % (
                    dest,
                    validate_command,
                    msg,
                )
        return copied
