"""Where vulnerability information comes from: a local OSV database or the OSV service."""
