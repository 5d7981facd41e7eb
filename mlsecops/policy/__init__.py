"""The policy: what blocks, what is waived, and until when.

Import from the submodules (`loader`, `model`, `judge`, `source`): stage packages
define their own policy sections, so this package must not import them eagerly.
"""

from typing import Any

_LAZY = {
    "PolicyError": "mlsecops.policy.loader",
    "load_policy": "mlsecops.policy.loader",
    "load_policy_text": "mlsecops.policy.loader",
    "Policy": "mlsecops.policy.model",
    "Waiver": "mlsecops.policy.common",
    "Threshold": "mlsecops.policy.common",
}


def __getattr__(name: str) -> Any:
    """`from mlsecops.policy import PolicyError` works without importing everything up front."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(name)
