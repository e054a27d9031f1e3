"""Outgoing e-mail: queued after commit, sent by a worker over SMTP (or kept in the
dev mailbox when no SMTP server is configured)."""
