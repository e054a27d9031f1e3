"""Authorization: roles per park (casbin RBAC with domains) and the one enforcer function."""
