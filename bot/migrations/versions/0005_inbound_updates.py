"""Inbound updates, stored before they are confirmed to Telegram and handled once.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inboundupdate',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('update_id')
    )
    with op.batch_alter_table('inboundupdate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inboundupdate_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inboundupdate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inboundupdate_status'))

    op.drop_table('inboundupdate')
