"""The stages: each looks at the changeset and reports findings, never a verdict."""
