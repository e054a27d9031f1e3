"""A park's staff: members, roles and invitations."""
