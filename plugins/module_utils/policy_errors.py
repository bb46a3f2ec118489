# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Errors raised by the fleet model and policy engine.

Every error carries what went wrong, where (file, line where known, item) and how to fix
it, so plugins can turn it into an AnsibleParserError / AnsibleFilterError without a
Python traceback reaching the operator.
"""

from __future__ import annotations

import difflib


def suggest(name, choices):
    """' (did you mean X?)' for the closest of choices, or ''."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return " (did you mean %s?)" % close[0] if close else ""


class FleetModelError(Exception):
    """A problem in the fleet model that an operator must fix."""

    def __init__(self, message, item=None, fix=None, source_file=None, line=None, path=None):
        # path: tuple of keys inside the YAML document that locates the offending node,
        # used to find its line number lazily (only when an error actually happens).
        self.message = message
        self.item = item
        self.fix = fix
        self.source_file = source_file
        self.line = line
        self.path = tuple(path) if path else ()
        super(FleetModelError, self).__init__(self.__str__())

    def __str__(self):
        where = []
        if self.source_file:
            loc = str(self.source_file)
            if self.line:
                loc += ":%d" % self.line
            where.append(loc)
        if self.item:
            where.append(str(self.item))
        text = self.message
        if where:
            text = "%s: %s" % (", ".join(where), text)
        if self.fix:
            text += " Fix: %s" % self.fix
        return text

    def located(self, source_file=None, line=None):
        """Return the same error with file/line filled in where they were unknown."""
        if source_file and not self.source_file:
            self.source_file = source_file
        if line and not self.line:
            self.line = line
        self.args = (self.__str__(),)
        return self


class FleetModelErrors(FleetModelError):
    """Several independent problems found in one pass, reported together."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(FleetModelErrors, self).__init__(
            "%d problems in the fleet model:\n" % len(self.errors) + "\n".join("  - %s" % e for e in self.errors)
        )

    def __str__(self):
        return self.message
