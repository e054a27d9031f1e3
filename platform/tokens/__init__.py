"""Personal API tokens: one park, one role, shown once, hashed at rest."""
