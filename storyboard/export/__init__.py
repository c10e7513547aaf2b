"""Outputs people hand on: storyboard PDF, animatics, sheet PNG, ZIP."""
