"""The function1d task."""
