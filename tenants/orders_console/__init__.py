"""Orders in the console: the list, one order with its money, refunds and the day's report."""
