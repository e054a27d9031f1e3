"""Everything stored inside one park's schema, and the tenant migration tree."""
