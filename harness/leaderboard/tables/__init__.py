"""Leaderboard table definitions (YAML data files, one per table)."""
