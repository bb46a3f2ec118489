"""Make the collection importable as ansible_collections.accelmon.monitoring.

`make` creates .build/collections/ansible_collections/accelmon/monitoring as a link to the
checkout; under `ansible-test units` the checkout already sits at that path.
"""
import os
import sys

try:
    import ansible_collections.accelmon.monitoring  # noqa: F401
except ImportError:
    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _COLLECTIONS = os.path.join(_ROOT, ".build", "collections")
    _LINK = os.path.join(_COLLECTIONS, "ansible_collections", "accelmon", "monitoring")
    if not os.path.exists(_LINK):
        os.makedirs(os.path.dirname(_LINK), exist_ok=True)
        os.symlink("../../../..", _LINK)
    sys.path.insert(0, _COLLECTIONS)
