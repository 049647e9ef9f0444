"""A question the asker solved themselves ("Solved it myself") is marked apart from one a
self-service answer solved: both close as self-served, and the reports count them separately.

Existing rows are filled as far as the data tells: a self-served ticket solved by an answer has
the answer's "helped" use (since 0011) and never a closing time, for "This helped" closes it
without one; a ticket the asker solved has a closing time and no such use.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('solved_by_asker', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    ticket = sa.table('ticket', sa.column('id', sa.Integer()),
                      sa.column('self_served', sa.Boolean()),
                      sa.column('closed_at', sa.DateTime(timezone=True)),
                      sa.column('solved_by_asker', sa.Boolean()))
    use = sa.table('answeruse', sa.column('ticket_id', sa.Integer()),
                   sa.column('kind', sa.String()))
    helped = sa.select(use.c.ticket_id).where(use.c.ticket_id == ticket.c.id,
                                              use.c.kind == 'helped')
    op.execute(ticket.update().where(
        ticket.c.self_served.is_(True), ticket.c.closed_at.is_not(None), ~helped.exists(),
    ).values(solved_by_asker=True))


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('solved_by_asker')
