"""Dialog state in the database, and questions offered a self-service answer that was never
settled.

`dialog`: what the bot waits for from one person in one chat (a step of /newevent, "Add to #N?",
/forget's confirmation…), read on every update so that a restart or the other replica goes on
from it. `ticket.offer_unsettled`: an offered question passed to the helpers because the asker
never said whether the answer helped.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'dialog',
        sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('step', sa.String(length=32), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('chat_id', 'user_id'),
    )
    op.create_index('ix_dialog_expires_at', 'dialog', ['expires_at'])
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offer_unsettled', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('offer_unsettled')
    op.drop_index('ix_dialog_expires_at', table_name='dialog')
    op.drop_table('dialog')
