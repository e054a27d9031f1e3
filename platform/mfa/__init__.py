"""Two-factor sign-in: TOTP enrolment, the second sign-in step, recovery codes."""
