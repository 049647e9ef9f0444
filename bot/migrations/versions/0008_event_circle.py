"""After an event: materials, attendance, feedback; registration deadlines and places offered
from the waiting list.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_closes_at', sa.DateTime(timezone=True),
                                      nullable=True))
        # Events that ended before this migration are taken as followed up: no feedback
        # questions about old events on the first start.
        batch_op.add_column(sa.Column('followed_up', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.alter_column('followed_up', server_default=None)
    op.execute(sa.text("UPDATE event SET followed_up = false WHERE ends_at > CURRENT_TIMESTAMP"))
    with op.batch_alter_table('rsvp', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offered_until', sa.DateTime(timezone=True), nullable=True))
    op.create_table('eventmaterial',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('link', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('file_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('added_by', sa.BigInteger(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('eventmaterial', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_eventmaterial_event_id'), ['event_id'], unique=False)
    op.create_table('attendance',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('by_host', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'user_id')
    )
    op.create_table('eventfeedback',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'user_id')
    )


def downgrade() -> None:
    op.drop_table('eventfeedback')
    op.drop_table('attendance')
    with op.batch_alter_table('eventmaterial', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_eventmaterial_event_id'))
    op.drop_table('eventmaterial')
    with op.batch_alter_table('rsvp', schema=None) as batch_op:
        batch_op.drop_column('offered_until')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('followed_up')
        batch_op.drop_column('registration_closes_at')
