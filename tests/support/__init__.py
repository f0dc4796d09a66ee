"""Test support code shared by integration tests and benchmarks."""
