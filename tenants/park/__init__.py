"""The park's own profile and its home page."""
