"""Tenancy core: the registry of parks, provisioning, and binding a park to a session."""
