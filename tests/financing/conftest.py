"""Fixtures of the financing tests."""
