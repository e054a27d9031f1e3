"""The money ledger and the daily report that reconciles it."""
