"""Model files that ship with synthloom (the role-voice model)."""
