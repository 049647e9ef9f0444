"""Figures for reports: answer and close durations kept on the ticket, the overdue mark, the
monthly digests already posted, and the indexes that keep a monthly report fast.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('digest',
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('period')
    )
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_answer_minutes', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('first_answer_office_minutes', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('close_minutes', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('close_office_minutes', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('overdue', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_ticket_created_at'), ['created_at'], unique=False)

    with op.batch_alter_table('topiclog', schema=None) as batch_op:
        batch_op.create_index('ix_topiclog_at_role_topic', ['at', 'role', 'topic'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('topiclog', schema=None) as batch_op:
        batch_op.drop_index('ix_topiclog_at_role_topic')

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_created_at'))
        batch_op.drop_column('overdue')
        batch_op.drop_column('close_office_minutes')
        batch_op.drop_column('close_minutes')
        batch_op.drop_column('first_answer_office_minutes')
        batch_op.drop_column('first_answer_minutes')

    op.drop_table('digest')
