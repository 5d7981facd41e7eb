"""The gate's own fuzz harnesses (atheris) and the targets they share with the hypothesis tests."""
