"""A park's own domains: claimed in the console, verified by an HTTP token, then served."""
