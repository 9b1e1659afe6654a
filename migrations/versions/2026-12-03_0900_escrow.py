"""escrow: the ledger's tables, payment events, chain transfers, payouts, thresholds

Revision ID: 0009_escrow
Revises: 0008_terms_versions
Create Date: 2026-12-03 09:00:00

New payment columns that existing rows must have (`amount_paid`, `overpaid`, `paid_late`)
are added with server defaults (SQLite stores money as sortable text, so
the server default is the Money type's own text for zero there).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import bazaar.kit.db
import bazaar.kit.money

revision: str = "0009_escrow"
down_revision: str | Sequence[str] | None = "0008_terms_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("owner_key", sa.String(length=36), nullable=False),
        sa.Column("asset", sa.String(length=80), nullable=False),
        sa.Column("created_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("kind", "owner_key", "asset", name=op.f("uq_ledger_accounts_kind")),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "confirmation_thresholds",
        sa.Column("chain_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("confirmations", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_confirmation_thresholds_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("chain_id", "currency", name=op.f("pk_confirmation_thresholds")),
    )
    op.create_table(
        "chain_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("from_address", sa.String(length=42), nullable=True),
        sa.Column("to_address", sa.String(length=42), nullable=True),
        sa.Column("token_contract", sa.String(length=42), nullable=True),
        sa.Column("amount_base_units", sa.String(length=80), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("confirmations", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("submitted_by", sa.Uuid(), nullable=True),
        sa.Column("credited", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_check_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_chain_transfers_payment_id_payments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name=op.f("fk_chain_transfers_submitted_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_transfers")),
        sa.UniqueConstraint("chain_id", "tx_hash", name=op.f("uq_chain_transfers_chain_id")),
    )
    with op.batch_alter_table("chain_transfers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chain_transfers_payment_id"), ["payment_id"], unique=False
        )
        batch_op.create_index(
            "ix_chain_transfers_status", ["status", "next_check_at"], unique=False
        )

    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("cause", sa.String(length=64), nullable=False),
        sa.Column(
            "meta",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_ledger_transactions_payment_id_payments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_transactions_reverses_id_ledger_transactions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_transactions_idempotency_key")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_transactions_payment_id"), ["payment_id"], unique=False
        )

    op.create_table(
        "payment_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("cause", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_payment_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payment_events_payment_id_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
    )
    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payment_events_payment", ["payment_id", "created_at"], unique=False
        )

    op.create_table(
        "payouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("to_address", sa.String(length=42), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("token_contract", sa.String(length=42), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("amount", bazaar.kit.money.Money(precision=38, scale=18), nullable=False),
        sa.Column("amount_base_units", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "unsigned_tx",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("ledger_transaction_id", sa.Uuid(), nullable=True),
        sa.Column("sent_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_payouts_payment_id_payments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_payouts_recipient_id_users")
        ),
        sa.ForeignKeyConstraint(["sent_by"], ["users.id"], name=op.f("fk_payouts_sent_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_payouts_tx_hash")),
    )
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payouts_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index("ix_payouts_status", ["status", "created_at"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("asset", sa.String(length=80), nullable=False),
        sa.Column("amount", bazaar.kit.money.Money(precision=38, scale=18), nullable=False),
        sa.Column("created_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_entries_account_id_ledger_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_entries_account", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_transaction_id"), ["transaction_id"], unique=False
        )

    zero = Decimal(0)
    bind = op.get_bind()
    money_zero = bazaar.kit.money.Money(38, 18).process_bind_param(zero, bind.dialect)
    # Plain ADD COLUMN on both databases: a batch rebuild of `payments` on SQLite would
    # rename tables while the full-text search virtual table is in the schema.
    for column in (
        sa.Column(
            "amount_paid",
            bazaar.kit.money.Money(precision=38, scale=18),
            nullable=False,
            server_default=sa.text(f"'{money_zero}'"),
        ),
        sa.Column("overpaid", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("paid_late", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("sender_address", sa.String(length=42), nullable=True),
        sa.Column("refund_address", sa.String(length=42), nullable=True),
        sa.Column("review_reason", sa.String(length=500), nullable=True),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("reviewed_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.String(length=1000), nullable=True),
        sa.Column("held_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", bazaar.kit.db.UTCDateTime(timezone=True), nullable=True),
    ):
        op.add_column("payments", column)


def downgrade() -> None:
    for name in (
        "settled_at",
        "held_at",
        "review_note",
        "reviewed_at",
        "reviewed_by",
        "review_reason",
        "refund_address",
        "sender_address",
        "paid_late",
        "overpaid",
        "amount_paid",
    ):
        op.drop_column("payments", name)

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_transaction_id"))
        batch_op.drop_index("ix_ledger_entries_account")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_index("ix_payouts_status")
        batch_op.drop_index(batch_op.f("ix_payouts_payment_id"))

    op.drop_table("payouts")
    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_events_payment")

    op.drop_table("payment_events")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_payment_id"))

    op.drop_table("ledger_transactions")
    with op.batch_alter_table("chain_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_chain_transfers_status")
        batch_op.drop_index(batch_op.f("ix_chain_transfers_payment_id"))

    op.drop_table("chain_transfers")
    op.drop_table("confirmation_thresholds")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_owner_id"))

    op.drop_table("ledger_accounts")
