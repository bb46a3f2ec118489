# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Reading fleet model files from disk.

PyYAML's C loader keeps 10k-target models fast; duplicate keys are refused (PyYAML would
silently keep the last). Line numbers for model errors are found lazily, by composing
the offending file only when an error is reported.
"""

from __future__ import annotations

import os

from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import build_model
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
    FleetModelErrors,
)

try:
    import yaml

    try:
        _BaseLoader = yaml.CSafeLoader
    except AttributeError:  # pragma: no cover - PyYAML without libyaml
        _BaseLoader = yaml.SafeLoader
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False
    _BaseLoader = object

MODEL_SUFFIXES = (".yml", ".yaml", ".json")
# registrations are one flat directory of YAML files, as the registrar writes them
REGISTRATION_SUFFIXES = (".yml", ".yaml")


if HAS_YAML:

    class _StrictLoader(_BaseLoader):
        """Safe loader that refuses duplicate mapping keys."""

    def _construct_mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        mapping = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate key %r (the first definition would be lost)" % (key,), key_node.start_mark
                )
            mapping[key] = loader.construct_object(value_node, deep=deep)
        return mapping

    _StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_file(path):
    """Load one YAML/JSON file; syntax errors become FleetModelError with the line."""
    if not HAS_YAML:
        raise FleetModelError("PyYAML is required to read fleet models", fix="pip install pyyaml", source_file=path)
    try:
        with open(path, "rb") as handle:
            return yaml.load(handle, Loader=_StrictLoader)  # nosec B506 - safe loader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = "%s" % (exc.problem or exc.context or "YAML syntax error")
        raise FleetModelError(
            "YAML syntax error: %s" % problem,
            source_file=path,
            line=line,
            fix="correct the YAML at that line (indentation, quoting, duplicate keys)",
        )
    except yaml.YAMLError as exc:
        raise FleetModelError("YAML error: %s" % exc, source_file=path, fix="correct the YAML")
    except (IOError, OSError) as exc:
        raise FleetModelError(
            "cannot read file: %s" % exc.strerror, source_file=path, fix="check the path and its permissions"
        )


def list_model_files(path, what="model"):
    """A file, or the model files under a directory (recursively, sorted)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FleetModelError(
            "%s path does not exist" % what,
            source_file=path,
            fix="point %s: at a file or a directory of *.yml files" % what,
        )
    out = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith(MODEL_SUFFIXES) and not name.startswith("."):
                out.append(os.path.join(root, name))
    return out


def list_registration_files(reg_dir, ignored=None):
    """The *.yml/*.yaml files directly in a registrations directory (sorted).

    Hidden entries (the registrar's lock and temporary files) are left alone; any other
    entry that is not read (a subdirectory, a *.json file) is appended to ``ignored`` as
    (path, reason), so the caller can warn about it.
    """
    out = []
    for name in sorted(os.listdir(reg_dir)):
        if name.startswith("."):
            continue
        path = os.path.join(reg_dir, name)
        if os.path.isdir(path):
            reason = "a subdirectory (registrations are not read recursively)"
        elif not name.endswith(REGISTRATION_SUFFIXES):
            reason = "not a *.yml or *.yaml file"
        elif not os.path.isfile(path):
            reason = "not a regular file"
        else:
            out.append(path)
            continue
        if ignored is not None:
            ignored.append((path, reason))
    return out


def find_line(path, doc_path):
    """Line (1-based) of the node at doc_path (keys / list indexes) in a YAML file."""
    if not HAS_YAML or not path or not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as handle:
            node = yaml.compose(handle, Loader=_BaseLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for key in doc_path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(key):
                    line = key_node.start_mark.line + 1
                    node = value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def resolve_sources(base_dir, models, registrations=None, ignored=None):
    """Resolve an inventory source's paths: (model files, registration files).

    ``ignored`` (a list) receives (path, reason) for entries of the registrations directory
    that are not read.
    """
    files = []
    for model in models:
        files.extend(list_model_files(os.path.join(base_dir, model)))
    reg_files = []
    if registrations:
        reg_dir = os.path.join(base_dir, registrations)
        if os.path.isdir(reg_dir):
            reg_files = list_registration_files(reg_dir, ignored)
        elif os.path.exists(reg_dir):
            raise FleetModelError(
                "registrations must be a directory",
                source_file=reg_dir,
                fix="point registrations: at a directory holding one file per host",
            )
    return files, reg_files


def read_raw(files, reg_files):
    """The cacheable raw source: file contents plus modification times."""
    return {
        "mtimes": dict((f, os.path.getmtime(f)) for f in files + reg_files),
        "documents": [[load_yaml_file(f), f] for f in files],
        "registrations": [_read_registration(f) for f in reg_files],
    }


def _read_registration(path):
    """[data, path], or [None, path, error] for a file that cannot be read (skipped, not fatal).

    The error is plain data ({message, line, fix}) so that the raw source stays cacheable.
    """
    try:
        return [load_yaml_file(path), path]
    except FleetModelError as exc:
        return [None, path, {"message": exc.message, "line": exc.line, "fix": exc.fix}]


def raw_is_fresh(raw, files, reg_files):
    """True when a cached raw source still matches the files on disk."""
    mtimes = raw.get("mtimes") or {}
    wanted = files + reg_files
    if sorted(mtimes) != sorted(wanted):
        return False
    return all(os.path.getmtime(f) == mtimes[f] for f in wanted)


def _locate(exc):
    errors = exc.errors if isinstance(exc, FleetModelErrors) else [exc]
    for err in errors:
        if err.source_file and not err.line:
            err.located(line=find_line(err.source_file, err.path))
    if isinstance(exc, FleetModelErrors):
        return FleetModelErrors(errors)
    return exc


def build_located(raw, strict=False):
    """Build the FleetModel from a raw source; errors (and skipped registrations) get their line numbers."""
    try:
        model = build_model([tuple(d) for d in raw["documents"]], [tuple(r) for r in raw["registrations"]], strict)
    except FleetModelError as exc:
        raise _locate(exc)
    if model.skipped:
        model.skipped = _locate(FleetModelErrors(model.skipped)).errors
    return model


def load_fleet(source_path, strict=None):
    """Load the fleet of an inventory source file (*.accelmon.yml) without Ansible."""
    try:
        config = load_yaml_file(source_path) or {}
        models = config.get("model")
        if isinstance(models, str):
            models = [models]
        if not models:
            raise FleetModelError(
                "inventory source has no model:", source_file=source_path, fix="add model: <file or directory>"
            )
        base_dir = os.path.dirname(os.path.abspath(source_path))
        files, reg_files = resolve_sources(base_dir, models, config.get("registrations"))
        raw = read_raw(files, reg_files)
    except FleetModelError as exc:
        raise _locate(exc)
    return build_located(raw, config.get("strict", False) if strict is None else strict)
