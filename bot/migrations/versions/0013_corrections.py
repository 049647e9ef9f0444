"""Helpers' reroutes teach the router: each rerouted question's basic forms, the role and topic
it was passed to (no text, no name).

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('routingcorrection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('from_role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('forms', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('routingcorrection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routingcorrection_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_routingcorrection_ticket_id'), ['ticket_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('routingcorrection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routingcorrection_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_routingcorrection_at'))
    op.drop_table('routingcorrection')
