"""The platform admin's pages: every park, suspending and resuming them."""
