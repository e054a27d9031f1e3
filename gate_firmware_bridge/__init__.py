"""The gate bridge: an edge process in each park and a hub in the cloud (see the gate issue)."""
