"""Taking payment for a park's orders through its payment provider."""
