"""One budget of Telegram's flood limits shared by every replica: a row per lane (the bot
overall, a group, a private chat) holding when its next message may go (bot.telegram.budget).

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'sendbudget',
        sa.Column('lane', sa.String(length=64), nullable=False),
        sa.Column('tat', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('lane'),
    )


def downgrade() -> None:
    op.drop_table('sendbudget')
