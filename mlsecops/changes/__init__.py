"""Artifact sources: what a run looks at (a git diff or a folder walk)."""
