# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Action plugin behind accelmon.monitoring.alert_rules (documentation in plugins/modules).

A thin adapter: collects host variables on the controller, lets module_utils.rule_compiler
do the work, and writes the file through ansible.builtin.copy's action (remote transfer,
`validate`, check mode, diff and backup all come from there, as for ansible.builtin.template).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import (
    Catalog,
    validate_rule_template,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.rule_compiler import (
    GROUP_PREFIX,
    RuleCompileError,
    dump_rules_yaml,
    host_entry,
    plan_rules,
    render_plan,
    summarize,
)

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str"},
    "dest": {"type": "path"},
    "rule_templates": {"type": "dict"},
    "group_prefix": {"type": "str", "default": GROUP_PREFIX},
    "interval": {"type": "str"},
    "validate_command": {"type": "str", "default": "promtool check rules %s"},
    "mode": {"type": "raw", "default": "0644"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "backup": {"type": "bool", "default": False},
    "return_rules": {"type": "bool", "default": True},
}
POLICY_VAR = "accelmon_effective_policy"
TEMPLATES_VAR = "accelmon_rule_templates"


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
        try:
            plan = plan_rules(catalog, hosts)
            rules = render_plan(catalog, plan, args["group_prefix"], args.get("interval"))
        except RuleCompileError as exc:
            raise AnsibleActionFail("alert rules: %s" % exc)

        summary = summarize(plan)
        result.update(
            changed=False,
            rule_count=sum(t["rules"] for t in summary.values()),
            host_count=len(hosts),
            templates=summary,
        )
        if args["return_rules"]:
            result["rules"] = rules
        if args.get("dest"):
            result.update(self._write(args, dump_rules_yaml(rules), task_vars))
        return result

    # -- inputs ---------------------------------------------------------------------------

    def _catalog(self, rule_templates):
        if not rule_templates:
            return Catalog()
        if not isinstance(rule_templates, dict):
            raise AnsibleActionFail("rule_templates must be a mapping of template name to definition")
        try:
            return Catalog({name: validate_rule_template(name, spec) for name, spec in rule_templates.items()})
        except FleetModelError as exc:
            raise AnsibleActionFail("rule_templates: %s" % exc)

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
            hosts[name] = host_entry({POLICY_VAR: hvars[POLICY_VAR]})
        return hosts

    # -- output ---------------------------------------------------------------------------

    def _write(self, args, content, task_vars):
        new_task = self._task.copy()
        copy_args = {"dest": args["dest"], "mode": args["mode"], "backup": args["backup"]}
        for key in ("owner", "group"):
            if args.get(key):
                copy_args[key] = args[key]
        if args.get("validate_command"):
            if "%s" not in args["validate_command"]:
                raise AnsibleActionFail(
                    "validate_command must contain %%s for the file to check, got %r" % args["validate_command"]
                )
            copy_args["validate"] = args["validate_command"]
        local_tempdir = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
        try:
            src = os.path.join(local_tempdir, os.path.basename(args["dest"]) or "rules.yml")
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
                copied["msg"] = "the generated rule file failed validation (%s); the previous file is kept: %s" % (
                    args.get("validate_command"),
                    msg,
                )
        return copied
