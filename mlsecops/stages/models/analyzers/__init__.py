"""One analyzer per format family (interface.py's Analyzer); registry.py maps formats to them.
An analyzer imports no other analyzer, engine or scanfile: shared code is in `shared/`."""
