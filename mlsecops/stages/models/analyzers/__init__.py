"""One analyzer per format family; `dispatch.py` picks the analyzer for a detected format."""
