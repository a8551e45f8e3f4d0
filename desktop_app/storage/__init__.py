"""Measurement history: the SQLite store and the CSV export."""
