"""ledger guards: PostgreSQL triggers and a deferred balance check on ledger entries

Revision ID: 0010_ledger_guards
Revises: 0009_escrow
Create Date: 2026-12-03 10:00:00

On PostgreSQL the database itself keeps the ledger append-only and balanced:

- `ledger_entries` and `ledger_transactions` refuse UPDATE and DELETE (row triggers;
  TRUNCATE is a different event and still empties them, as the test suite does);
- DEFERRABLE INITIALLY DEFERRED constraint triggers check, at COMMIT, that the entries of
  each ledger transaction an INSERT touched sum to zero per asset, and that every new
  ledger transaction has at least two entries (once per new transaction; an entry added
  to a transaction from another database transaction is checked on its own).

On SQLite the posting function (payments/ledger/posting.py) enforces the same and
`bazaar ledger verify` proves it. Both databases get a unique index on `reverses_id`: a
transaction is reversed at most once.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_ledger_guards"
down_revision: str | Sequence[str] | None = "0009_escrow"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_UPGRADE = [
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER ledger_transactions_append_only
    BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE FUNCTION ledger_assert_balanced(tx uuid) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        off record;
    BEGIN
        SELECT asset, sum(amount) AS total INTO off FROM ledger_entries
        WHERE transaction_id = tx GROUP BY asset HAVING sum(amount) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'ledger transaction % does not balance: % sums to %',
                tx, off.asset, off.total USING ERRCODE = 'check_violation';
        END IF;
        IF (SELECT count(*) FROM ledger_entries WHERE transaction_id = tx) < 2 THEN
            RAISE EXCEPTION 'ledger transaction % has fewer than two entries', tx
                USING ERRCODE = 'check_violation';
        END IF;
    END
    $$
    """,
    """
    CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- A ledger transaction inserted by this very database transaction (not in a
        -- savepoint: xmin is then the top-level id) is checked by its own trigger; an entry
        -- added to any other, e.g. one committed earlier, is checked here.
        PERFORM 1 FROM ledger_transactions
        WHERE id = NEW.transaction_id AND xmin = pg_current_xact_id()::xid;
        IF NOT FOUND THEN
            PERFORM ledger_assert_balanced(NEW.transaction_id);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM ledger_assert_balanced(NEW.id);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_transactions_balanced AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced()
    """,
]

PG_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS ledger_transactions_balanced ON ledger_transactions",
    "DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_transaction_balanced()",
    "DROP FUNCTION IF EXISTS ledger_entry_balanced()",
    "DROP FUNCTION IF EXISTS ledger_assert_balanced(uuid)",
    "DROP TRIGGER IF EXISTS ledger_transactions_append_only ON ledger_transactions",
    "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_refuse_change()",
]


def upgrade() -> None:
    op.create_index(
        "uq_ledger_transactions_reverses_id",
        "ledger_transactions",
        ["reverses_id"],
        unique=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_DOWNGRADE:
            op.execute(statement)
    op.drop_index("uq_ledger_transactions_reverses_id", table_name="ledger_transactions")
