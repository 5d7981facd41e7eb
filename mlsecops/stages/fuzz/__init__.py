"""The fuzz stage: a fixed wall-clock budget of sandboxed fuzzing of changed artifacts."""
