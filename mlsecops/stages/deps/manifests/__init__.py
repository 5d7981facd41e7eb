"""Dependency manifests: requirements files, pyproject.toml and lock files, read without resolving."""
