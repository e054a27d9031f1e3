"""Embedded PostgreSQL and Redis-compatible servers for development and tests.

They start only when the matching `VISTAPASS_*_URL` setting is empty. Each one is a
detached daemon with its data and pid file under the data directory, so a server
left behind by a killed run is found and reused, never started twice.
"""
