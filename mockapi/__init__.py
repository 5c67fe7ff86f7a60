"""mockapi: a stateful mock of the Space dispatcher API v2."""

__version__ = "0.1.0"
