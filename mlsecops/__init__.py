"""mlsecops: a security gate for machine-learning repositories."""

__version__ = "0.1.0"
