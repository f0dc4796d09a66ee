"""Running a spec's samples on Ray: worker actors, the dealing driver, travelling state.

The driver (`synthloom run --ray ...`) stays the only writer of the run folder; the
workers run today's sample graph and send each outcome back. Nothing here is
imported by the single-process path unless a run asks for Ray.
"""
