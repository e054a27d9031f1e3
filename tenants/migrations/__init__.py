"""The tenant migration tree, applied to every park's schema."""

from __future__ import annotations

from alembic import op


def tenant_schema() -> str:
    """The schema of the park being migrated.

    `schema_translate_map` rewrites the placeholder `tenant` only in statements
    compiled from Table objects (`create_table`), not in alembic's ALTERs, so
    every tenant migration names the real schema through this.
    """
    schema = op.get_context().version_table_schema
    assert schema and schema.startswith("t_"), f"not migrating a park schema: {schema!r}"
    return schema
