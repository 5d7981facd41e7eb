"""The policy: what blocks, what is waived, and until when."""

from mlsecops.policy.loader import PolicyError, load_policy, load_policy_text
from mlsecops.policy.model import Policy, Threshold, Waiver

__all__ = ["Policy", "PolicyError", "Threshold", "Waiver", "load_policy", "load_policy_text"]
