"""The deps stage: pip-audit over the dependency manifests a change touches."""
