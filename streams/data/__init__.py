"""Histories as data: CSV input for `score`/`replay` and generated sample histories."""
