"""Data only: the shipped scenario files, found with importlib.resources."""
