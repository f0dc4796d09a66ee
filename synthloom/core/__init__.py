"""The bottom floor: records, errors, files and text primitives that every layer shares.

Nothing in here imports from the rest of the project, so a graph, a role or a
knowledge module can use these types without loading the run spec or curation.
"""
