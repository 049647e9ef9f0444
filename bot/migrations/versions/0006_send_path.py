"""One way to send: every message besides the immediate reply goes through the outbox, with a
priority; running processes keep a heartbeat, so that only a dead one's work is taken over.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False,
                                      server_default='4'))
        batch_op.add_column(sa.Column('ticket_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
        batch_op.drop_index('ix_outbox_due_at')
        batch_op.drop_index('ix_outbox_status')
        batch_op.create_index('ix_outbox_due', ['status', 'priority', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_ticket_id'), ['ticket_id'], unique=False)
    with op.batch_alter_table('inboundupdate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))
    op.create_table('worker',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('worker', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_heartbeat_at'), ['heartbeat_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('worker', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_heartbeat_at'))
    op.drop_table('worker')
    with op.batch_alter_table('inboundupdate', schema=None) as batch_op:
        batch_op.drop_column('worker')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_ticket_id'))
        batch_op.drop_index('ix_outbox_due')
        batch_op.create_index('ix_outbox_status', ['status'], unique=False)
        batch_op.create_index('ix_outbox_due_at', ['due_at'], unique=False)
        batch_op.drop_column('params')
        batch_op.drop_column('ticket_id')
        batch_op.drop_column('priority')
