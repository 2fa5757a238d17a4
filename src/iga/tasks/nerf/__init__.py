"""The nerf task."""
