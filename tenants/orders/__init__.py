"""Orders: one state machine for every channel, with payments, tickets and refunds."""
