"""Window sales: the cashier's page, selling through the same order service as the web."""
