"""Tests of curation blocks, judges, the report and their commands."""
