"""Pricing modes and OTA connectors, found through the entry point groups
`vistapass.pricing` and `vistapass.ota` (see the catalog and OTA issues)."""
