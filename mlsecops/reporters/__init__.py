"""Reporters read the verdict and write; they never scan."""
