"""The image task."""
