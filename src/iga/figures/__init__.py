"""Figures (matplotlib, Agg backend): image comparisons and curves (plots), meshes (plots3d)."""
