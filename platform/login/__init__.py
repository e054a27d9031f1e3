"""Signing in and out, lockout after repeated failures, and password reset."""
