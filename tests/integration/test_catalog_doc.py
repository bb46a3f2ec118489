"""docs/policy-catalog.md is generated from the catalog and must be current."""

import os
import runpy

from helpers import ROOT


def test_catalog_doc_is_current():
    tool = runpy.run_path(os.path.join(ROOT, "tests", "tools", "gen_catalog_doc.py"))
    with open(os.path.join(ROOT, "docs", "policy-catalog.md")) as handle:
        assert handle.read() == tool["render"](), "run tests/tools/gen_catalog_doc.py"
