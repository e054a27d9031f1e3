"""HTTP plumbing shared by every domain: errors, request context, tenant routing."""
