"""What several analyzers share: it imports context, formats and the allowlist, never an
analyzer, an engine or scanfile (tests/models/test_shape.py checks it)."""
