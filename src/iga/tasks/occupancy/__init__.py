"""The occupancy task."""
