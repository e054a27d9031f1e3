"""The gate hub: edge and device credentials, sync, event intake, redeem, occupancy."""
