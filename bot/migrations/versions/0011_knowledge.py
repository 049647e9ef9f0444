"""The knowledge loop: self-service answers in the database (seeded from YAML, drafted from good
replies, published by coaches), what became of each answer, and the holder's last reply.

Revision ID: 0011
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0011'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('knowledgeanswer',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('triggers', sa.JSON(), nullable=False),
    sa.Column('text', sa.JSON(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('source_ticket_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('knowledgeanswer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledgeanswer_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_knowledgeanswer_source_ticket_id'),
                              ['source_ticket_id'], unique=False)
    op.create_table('answeruse',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('answeruse', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answeruse_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_answeruse_answer_id'), ['answer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answeruse_ticket_id'), ['ticket_id'], unique=False)
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_text', sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('reply_text')
    with op.batch_alter_table('answeruse', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answeruse_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_answeruse_answer_id'))
        batch_op.drop_index(batch_op.f('ix_answeruse_at'))
    op.drop_table('answeruse')
    with op.batch_alter_table('knowledgeanswer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledgeanswer_source_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_knowledgeanswer_status'))
    op.drop_table('knowledgeanswer')
