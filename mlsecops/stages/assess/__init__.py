"""The assess stage: a declared model evaluated on the repository's own data, head against base."""
