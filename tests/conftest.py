"""Make the collection importable as ansible_collections.accelmon.monitoring.

`make` creates .build/collections/ansible_collections/accelmon/monitoring as a link to the
checkout; under `ansible-test units` the checkout already sits at that path and Ansible's
collection loader is already installed.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(_ROOT)))

if os.path.basename(os.path.dirname(os.path.dirname(_ROOT))) == "ansible_collections":
    _COLLECTIONS = _PARENT  # checkout placed at ansible_collections/accelmon/monitoring
else:
    _COLLECTIONS = os.path.join(_ROOT, ".build", "collections")
    _LINK = os.path.join(_COLLECTIONS, "ansible_collections", "accelmon", "monitoring")
    if not os.path.lexists(_LINK):
        os.makedirs(os.path.dirname(_LINK), exist_ok=True)
        os.symlink("../../../..", _LINK)

os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", _COLLECTIONS)

try:
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if AnsibleCollectionConfig.collection_finder is None:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader([_COLLECTIONS])
except ImportError:  # pragma: no cover - ansible-core is a test requirement
    if _COLLECTIONS not in sys.path:
        sys.path.insert(0, _COLLECTIONS)
