"""payments.token_contract: the token contract a payment is sent to (token registry)

Revision ID: 0006_payment_token_contract
Revises: 0005_sign_in_failures
Create Date: 2026-12-01 09:00:00

New payments take their chain id and token contract from the token registry
(kit/tokens.py). Existing payments whose token and network the built-in registry knows get
its contract; the others (no network, or a token it does not list) keep null.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_payment_token_contract"
down_revision: str | Sequence[str] | None = "0005_sign_in_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The built-in registry as it was when this migration was written: a migration must not
# change meaning when the code's registry grows.
CONTRACTS: dict[tuple[str, int], str] = {
    ("USDC", 1): "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
    ("USDC", 10): "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85",
    ("USDC", 137): "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359",
    ("USDC", 8453): "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
    ("USDC", 42161): "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
    ("USDC", 43114): "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E",
    ("USDC", 11155111): "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238",
    ("USDC", 84532): "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
    ("USDT", 1): "0xdAC17F958D2ee523a2206206994597C13D831ec7",
    ("USDT", 10): "0x94b008aA00579c1307B0EF2c499aD98a8ce58e58",
    ("USDT", 137): "0xc2132D05D31c914a87C6611C10748AEb04B58e8F",
    ("USDT", 8453): "0xfde4C96c8593536E31F229EA8f37b2ADa2699bb2",
    ("USDT", 42161): "0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9",
    ("DAI", 1): "0x6B175474E89094C44Da98b954EedeAC495271d0F",
    ("DAI", 10): "0xDA10009cBd5D07dd0CeCc66161FC93D7c9000da1",
    ("DAI", 137): "0x8f3Cf7ad23Cd3CaDbD9735AFf958023239c6A063",
    ("DAI", 8453): "0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb",
    ("DAI", 42161): "0xDA10009cBd5D07dd0CeCc66161FC93D7c9000da1",
    ("PYUSD", 1): "0x6c3ea9036406852006290770BEdFcAbA0e23A0e8",
    ("PYUSD", 11155111): "0xCaC524BcA292aaade2DF8A05cC58F0a65B1B3bB9",
    ("EURC", 1): "0x1aBaEA1f7C830bD89Acc67eC4af516284b1bC33c",
    ("EURC", 8453): "0x60a3E35Cc302bFA44Cb288Bc5a4F316Fdb1adb42",
    ("EURC", 43114): "0xC891EB4cbdEFf6e073e859e987815Ed1505c2ACD",
    ("EURC", 11155111): "0x08210F9170F89Ab7658F0B5E3fF39b0E03C594D4",
    ("EURC", 84532): "0x808456652fdb597867f38412077A9182bf77359F",
}


def upgrade() -> None:
    # Nullable without a default: a metadata-only change on both databases.
    op.add_column("payments", sa.Column("token_contract", sa.String(length=42), nullable=True))
    payments = sa.table(
        "payments",
        sa.column("currency", sa.String),
        sa.column("network", sa.Integer),
        sa.column("token_contract", sa.String),
    )
    for (symbol, chain_id), contract in CONTRACTS.items():
        op.execute(
            payments.update()
            .where(
                payments.c.currency == symbol,
                payments.c.network == chain_id,
                payments.c.token_contract.is_(None),
            )
            .values(token_contract=contract)
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("token_contract")
