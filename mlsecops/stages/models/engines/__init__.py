"""Third-party engines (fickling, modelscan) behind one small shape: they observe into a ScanState."""
