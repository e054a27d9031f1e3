"""Capacity in the console: the park's shared pools and how full each limited bucket is."""
