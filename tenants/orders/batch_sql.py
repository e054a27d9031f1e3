"""The SQL of a group-commit batch (`group_commit.py`): each statement built from
the orders that go, their rows written as one JSON document per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import msgspec

from vistapass.platform.db.raw import Statement

if TYPE_CHECKING:
    from vistapass.tenants.orders.group_commit import Ready

Bucket = tuple[str, date, str]  # scope, day, slot


def _rows_json(rows: Sequence[Any]) -> str:
    # One JSON document per table: psycopg adapts a Python list element by element,
    # which cost more than the rest of a batch. msgspec writes uuids, dates and
    # times natively (the json module calls back into Python for each).
    return msgspec.json.encode(rows).decode()


def _insert_rows(table: str, columns: Sequence[tuple[str, str]], tail: str = "") -> str:
    """An INSERT of `table`'s rows from a JSON array of objects, typed by `columns`."""
    names = ", ".join(name for name, _ in columns)
    types = ", ".join(f"{name} {kind}" for name, kind in columns)
    return (
        f"INSERT INTO {table} ({names}) SELECT {names} "
        f"FROM jsonb_to_recordset(%(rows)s::jsonb) AS t({types}){tail}"
    )


_CLAIMS = (
    "INSERT INTO idempotency_records (scope, key, request_hash, response_status, "
    "response_body) SELECT scope, key, decode(hash, 'hex'), 201, body "
    "FROM jsonb_to_recordset(%(rows)s::jsonb) AS t(scope text, key text, hash text, body jsonb) "
    "ON CONFLICT DO NOTHING RETURNING scope, key"
)


def claims(keyed: Sequence[Ready]) -> list[Statement]:
    rows = [
        {
            "scope": ready.claim.scope,
            "key": ready.claim.key,
            "hash": ready.claim.request_hash.hex(),
            "body": ready.body,
        }
        for ready in keyed
        if ready.claim is not None
    ]
    return [(_CLAIMS, {"rows": _rows_json(rows)})] if rows else []


def create_bucket(bucket: Bucket, capacity: int) -> Statement:
    scope, day, slot = bucket
    return (
        "INSERT INTO inventory_buckets (scope, day, slot, capacity, taken) "
        "VALUES (%(scope)s, %(day)s, %(slot)s, %(capacity)s, 0) ON CONFLICT DO NOTHING",
        {"scope": scope, "day": day, "slot": slot, "capacity": capacity},
    )


def lock_bucket(bucket: Bucket) -> Statement:
    scope, day, slot = bucket
    return (
        "SELECT id, taken FROM inventory_buckets "
        "WHERE scope = %(scope)s AND day = %(day)s AND slot = %(slot)s FOR UPDATE",
        {"scope": scope, "day": day, "slot": slot},
    )


_TAKES = (
    "UPDATE inventory_buckets AS b SET taken = b.taken + v.n, capacity = v.capacity "
    "FROM unnest(%(ids)s::bigint[], %(ns)s::int[], %(capacities)s::int[]) AS v(id, n, capacity) "
    "WHERE b.id = v.id"
)


def takes(going: Sequence[Ready], bucket_ids: dict[Bucket, int]) -> list[Statement]:
    """Each bucket's places for the orders that go, and its capacity as configured
    now, as the ordinary path writes it (`inventory.take`): one statement for all
    of them, whose rows this transaction has locked already."""
    wanted: dict[int, tuple[int, int]] = {}
    for ready in going:
        for need in ready.needs:
            bucket_id = bucket_ids[need.bucket]
            places, _ = wanted.get(bucket_id, (0, need.capacity))
            wanted[bucket_id] = (places + need.quantity, need.capacity)
    if not wanted:
        return []  # products without a capacity
    ordered = sorted(wanted.items())
    return [
        (
            _TAKES,
            {
                "ids": [bucket_id for bucket_id, _ in ordered],
                "ns": [n for _, (n, _) in ordered],
                "capacities": [capacity for _, (_, capacity) in ordered],
            },
        )
    ]


def forget_answers(left_out: Sequence[Ready], stored: set[tuple[str, str]]) -> list[Statement]:
    """The answers stored for orders that are not written here: their retries must not
    be told of orders that do not exist."""
    ours = [
        ready.claim
        for ready in left_out
        if ready.claim is not None and (ready.claim.scope, ready.claim.key) in stored
    ]
    if not ours:
        return []
    return [
        (
            "DELETE FROM idempotency_records WHERE (scope, key) IN "
            "(SELECT * FROM unnest(%(scopes)s::text[], %(keys)s::text[]))",
            {"scopes": [c.scope for c in ours], "keys": [c.key for c in ours]},
        )
    ]


ORDER_COLUMNS = (
    ("id", "uuid"),
    ("code", "text"),
    ("access_token", "text"),
    ("channel", "text"),
    ("status", "text"),
    ("product_id", "uuid"),
    ("product_code", "text"),
    ("visit_date", "date"),
    ("slot", "text"),
    ("places", "int"),
    ("currency", "text"),
    ("subtotal", "bigint"),
    ("total", "bigint"),
    ("refunded_amount", "bigint"),
    ("quote", "jsonb"),
    ("contact_name", "text"),
    ("contact_email", "text"),
    ("contact_phone", "text"),
    ("locale", "text"),
    ("provider", "text"),
    ("sold_by", "uuid"),
    ("expires_at", "timestamptz"),
    ("note", "text"),
)
LINE_COLUMNS = (
    ("order_id", "uuid"),
    ("unit", "text"),
    ("quantity", "int"),
    ("base_price", "bigint"),
    ("unit_price", "bigint"),
    ("total", "bigint"),
    ("adjustments", "jsonb"),
)
TICKET_COLUMNS = (
    ("id", "uuid"),
    ("order_id", "uuid"),
    ("position", "smallint"),
    ("unit", "text"),
    ("price", "bigint"),
    ("refunded_amount", "bigint"),
    ("valid_from", "date"),
    ("valid_to", "date"),
    ("slot", "text"),
    ("entitlement", "jsonb"),
)
HOLD_COLUMNS = (
    ("order_id", "uuid"),
    ("bucket_id", "bigint"),
    ("quantity", "int"),
    ("expires_at", "timestamptz"),
)
_INSERTS = tuple(
    _insert_rows(table, columns)
    for table, columns in (
        ("orders", ORDER_COLUMNS),
        ("order_lines", LINE_COLUMNS),
        ("tickets", TICKET_COLUMNS),
        ("order_holds", HOLD_COLUMNS),
    )
)


def inserts(going: Sequence[Ready], bucket_ids: dict[Bucket, int]) -> list[Statement]:
    # The row dataclasses go to JSON as they are: a field the table's columns do not
    # name (a ticket's `qr`, say, still None) is in the document and not read.
    orders = [ready.order for ready in going]
    lines = [line for ready in going for line in ready.lines]
    tickets = [ticket for ready in going for ticket in ready.tickets]
    holds = [
        {
            "order_id": ready.order.id,
            "bucket_id": bucket_ids[need.bucket],
            "quantity": need.quantity,
            "expires_at": ready.order.expires_at,
        }
        for ready in going
        for need in ready.needs
    ]
    tables = (orders, lines, tickets, holds)
    return [
        (sql, {"rows": _rows_json(rows)})
        for sql, rows in zip(_INSERTS, tables, strict=True)
        if rows
    ]
