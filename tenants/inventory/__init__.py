"""Places per product, date and slot, and the Redis gate in front of hot ones."""
