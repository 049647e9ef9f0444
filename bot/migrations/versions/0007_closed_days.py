"""The school's closed days (breaks, training days), imported from a calendar.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('closeddays',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('closeddays', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closeddays_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_closeddays_last_day'), ['last_day'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('closeddays', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_closeddays_last_day'))
        batch_op.drop_index(batch_op.f('ix_closeddays_source'))

    op.drop_table('closeddays')
