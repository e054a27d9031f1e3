"""Check-in: the admission rules every scanner follows, the staff check-in page and its API."""
