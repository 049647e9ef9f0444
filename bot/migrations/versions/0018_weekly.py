"""What coaches and askers meet every week: each text a helper relayed is kept apart, so that
"Save as an answer" can choose the substantive ones; a draft remembers the details its helper
took out; a ticket remembers the asker's newest follow-up, which the next answer replies to.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('replypart',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('chosen', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('replypart', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_replypart_ticket_id'), ['ticket_id'], unique=False)
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_asker_message_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('knowledgeanswer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hidden', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table('knowledgeanswer', schema=None) as batch_op:
        batch_op.drop_column('hidden')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('last_asker_message_id')
    with op.batch_alter_table('replypart', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replypart_ticket_id'))
    op.drop_table('replypart')
