"""Invitations by link, the desk's settings made in Telegram (the helpers' group, the staff
code), the channels the bot was made an admin of, and who came with the staff code.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        'invite',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('code_hash', sa.String(length=64), nullable=False, unique=True),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.BigInteger(), nullable=True),
        _ts('created_at'), _ts('expires_at'), _ts('used_at', True),
        sa.Column('used_by', sa.BigInteger(), nullable=True),
        _ts('revoked_at', True),
    )
    op.create_table(
        'desksetting',
        sa.Column('key', sa.String(length=32), primary_key=True),
        sa.Column('value', sa.String(length=200), nullable=False),
        _ts('updated_at'),
    )
    op.create_table(
        'deskchannel',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('chat_id', sa.BigInteger(), nullable=False, unique=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('asked', sa.BigInteger(), nullable=True),
        _ts('updated_at'),
    )
    op.create_table(
        'staffpass',
        sa.Column('telegram_id', sa.BigInteger(), primary_key=True, autoincrement=False),
        _ts('admitted_at'),
    )


def downgrade() -> None:
    for table in ('staffpass', 'deskchannel', 'desksetting', 'invite'):
        op.drop_table(table)
