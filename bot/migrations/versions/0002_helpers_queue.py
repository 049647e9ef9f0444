"""The helpers' side of a ticket: delivery, claim, SLA timers, rating; message-to-ticket map;
reroutes in the topic log.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ticketmessage',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('message_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('chat_id', 'message_id')
    )
    with op.batch_alter_table('ticketmessage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketmessage_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('thread_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_answer_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('sla_level', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('rating', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('feedback', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ticket_claimed_by'), ['claimed_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_sla_due_at'), ['sla_due_at'], unique=False)

    with op.batch_alter_table('topiclog', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rerouted_from_role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('rerouted_from_topic', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('topiclog', schema=None) as batch_op:
        batch_op.drop_column('rerouted_from_topic')
        batch_op.drop_column('rerouted_from_role')

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_sla_due_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_claimed_by'))
        batch_op.drop_column('feedback')
        batch_op.drop_column('rating')
        batch_op.drop_column('phone')
        batch_op.drop_column('sla_level')
        batch_op.drop_column('sla_due_at')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('first_answer_at')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('thread_id')
        batch_op.drop_column('delivered_at')

    with op.batch_alter_table('ticketmessage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketmessage_ticket_id'))

    op.drop_table('ticketmessage')
