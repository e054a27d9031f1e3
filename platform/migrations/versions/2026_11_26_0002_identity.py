"""Identity and authorization: users, memberships, invitations, tokens, policy.

Revision ID: 0002
Revises: 0001
Created: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("owner", "manager", "cashier", "gate_staff", "finance", "viewer")

# The role -> permission policy as first shipped; from here on it lives in
# `casbin_rules` and changes by migration.
POLICY = {
    "console:view": ROLES,
    "settings:read": ("owner", "manager", "finance", "viewer"),
    "settings:write": ("owner", "manager"),
    "staff:read": ("owner", "manager"),
    "staff:manage": ("owner",),
    "audit:read": ("owner", "manager", "finance"),
    "tokens:manage": ROLES,
    "catalog:read": ("owner", "manager", "cashier", "finance", "viewer"),
    "catalog:write": ("owner", "manager"),
    "orders:read": ("owner", "manager", "cashier", "finance", "viewer"),
    "orders:refund": ("owner", "manager", "cashier", "finance"),
    "window:sell": ("owner", "manager", "cashier"),
    "checkin:scan": ("owner", "manager", "gate_staff"),
    "reports:read": ("owner", "manager", "finance", "viewer"),
    "settlements:read": ("owner", "finance"),
}
PLATFORM_POLICY = {"tenants:read": ("platform_admin",), "tenants:manage": ("platform_admin",)}


def _created() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("email_verified_at", sa.DateTime(timezone=True)),
        sa.Column("totp_secret", sa.Text()),
        sa.Column("totp_enabled_at", sa.DateTime(timezone=True)),
        sa.Column("is_platform_admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("locale", sa.String(10), server_default="zh-CN", nullable=False),
        _created(),
        sa.CheckConstraint("email = lower(email)", name="ck_users_email_lower"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    role_check = "role IN ('" + "', '".join(ROLES) + "')"
    op.create_table(
        "memberships",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        _created(),
        sa.CheckConstraint(role_check, name="ck_memberships_role"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_memberships_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_memberships_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.UniqueConstraint("user_id", "tenant_id", name="uq_memberships_user_tenant"),
    )
    op.create_index("ix_memberships_tenant_id", "memberships", ["tenant_id"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("invited_by", sa.Uuid()),
        _created(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("accepted_by", sa.Uuid()),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(role_check, name="ck_invitations_role"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_invitations_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name="fk_invitations_invited_by_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name="fk_invitations_accepted_by_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_invitations"),
        sa.UniqueConstraint("token_hash", name="uq_invitations_token_hash"),
    )
    op.create_index("ix_invitations_tenant_id", "invitations", ["tenant_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _created(),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(role_check, name="ck_api_tokens_role"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_api_tokens_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_prefix", name="uq_api_tokens_token_prefix"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_recovery_codes_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _created(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password')", name="ck_one_time_tokens_purpose"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_one_time_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_one_time_tokens_token_hash"),
    )
    op.create_index("ix_one_time_tokens_user_id", "one_time_tokens", ["user_id"])
    rules = op.create_table(
        "casbin_rules",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("ptype", sa.String(8), nullable=False),
        *(sa.Column(f"v{i}", sa.String(100), server_default="", nullable=False) for i in range(6)),
        sa.PrimaryKeyConstraint("id", name="pk_casbin_rules"),
    )
    lines = [
        {"ptype": "p", "v0": role, "v1": "*", "v2": perm.split(":")[0], "v3": perm.split(":")[1]}
        for perm, roles in POLICY.items()
        for role in roles
    ] + [
        {
            "ptype": "p",
            "v0": role,
            "v1": "platform",
            "v2": perm.split(":")[0],
            "v3": perm.split(":")[1],
        }
        for perm, roles in PLATFORM_POLICY.items()
        for role in roles
    ]
    op.bulk_insert(rules, [{**line, "v4": "", "v5": ""} for line in lines])


def downgrade() -> None:
    for table in (
        "casbin_rules", "one_time_tokens", "recovery_codes", "api_tokens", "invitations",
        "memberships", "users",
    ):  # fmt: skip
        op.drop_table(table)
