"""What a park sells and how it is priced."""
