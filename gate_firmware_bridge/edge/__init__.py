"""The gate edge: decides scans inside the park from a local cache, syncs with the hub.

`store` (SQLite + in-memory mirror), `decider` (the adapters' `Decide`), `sync`
(hub client and loop), `clock` (time that never runs backwards), `wire` (the
hub contract's shapes).
"""
