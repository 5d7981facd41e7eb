"""Content-based format detection and the container readers the models stage walks."""
