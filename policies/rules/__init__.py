"""The pack's rules: one module per rule, named after its id (dashes become underscores).

``POLICIES`` lists every rule's SDK policy in the order of
:data:`corral.build.packconfig.RULE_IDS`; a test checks the two agree.
"""

from __future__ import annotations

import importlib
from typing import Any

from corral.build import packconfig as P


def load(rule_id: str) -> Any:
    """The module holding ``rule_id``."""
    return importlib.import_module(f"{__name__}.{P.module_name(rule_id)}")


MODULES = tuple(load(rule_id) for rule_id in P.RULE_IDS)
POLICIES = [module.POLICY for module in MODULES]
