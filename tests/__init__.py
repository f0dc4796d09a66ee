"""Test suite package, so helpers import as ``tests.support``."""
