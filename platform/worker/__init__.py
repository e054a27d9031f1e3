"""Background jobs: the dramatiq broker, after-commit enqueueing, tenant-bound actors."""
