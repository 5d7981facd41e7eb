"""The models stage: static analysis of model files. Nothing is ever loaded."""
