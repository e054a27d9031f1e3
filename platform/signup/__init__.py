"""Self-service sign-up of a park: the owner's account, e-mail verification, first session."""
