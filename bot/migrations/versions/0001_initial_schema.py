"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 08:04:45.544835
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('helper',
    sa.Column('telegram_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('telegram_id')
    )
    op.create_table('helperrole',
    sa.Column('helper_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.PrimaryKeyConstraint('helper_id', 'role')
    )
    op.create_table('staff',
    sa.Column('telegram_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('first_name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('telegram_language', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('telegram_id')
    )
    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asker_id', sa.BigInteger(), nullable=True),
    sa.Column('asker_chat_id', sa.BigInteger(), nullable=True),
    sa.Column('source_message_id', sa.Integer(), nullable=True),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('routing', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('self_served', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('asker_chat_id', 'source_message_id')
    )
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_asker_id'), ['asker_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_role'), ['role'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_status'), ['status'], unique=False)

    op.create_table('topiclog',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('routing', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('topiclog', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_topiclog_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_topiclog_ticket_id'), ['ticket_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('topiclog', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_topiclog_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_topiclog_at'))

    op.drop_table('topiclog')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_status'))
        batch_op.drop_index(batch_op.f('ix_ticket_role'))
        batch_op.drop_index(batch_op.f('ix_ticket_asker_id'))

    op.drop_table('ticket')
    op.drop_table('staff')
    op.drop_table('helperrole')
    op.drop_table('helper')
