"""Virtual turnstiles for the demo park: `vistapass gate-sim` (see lanes.py)."""
