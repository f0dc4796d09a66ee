"""Integration tests: synthloom end to end over real HTTP against a scripted server."""
