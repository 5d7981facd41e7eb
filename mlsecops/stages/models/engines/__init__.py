"""Third-party engines (fickling, modelscan): interface.py's Engine, listed in registry.py;
each observes into the ScanState it is given, under its own name."""
