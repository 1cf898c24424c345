"""Releases: built once from a commit, content-addressed, verified before every install."""
