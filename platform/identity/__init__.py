"""Who is asking: passwords, sessions, API tokens, the request's principal."""
