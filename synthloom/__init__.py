"""synthloom: grounded, diverse synthetic dialogue and chain-of-thought data."""

__version__ = "0.1.0"
