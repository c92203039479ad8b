"""Version stamps for the workers' caches (clients, signing keys); indexes for the hot paths.

Revision ID: 0007
Revises: 0006

cache_version holds one row per cached table, made by the first write that bumps it (a missing row
reads as version 0), so nothing is seeded here. authorization_code.grant_id gets the index its
ON DELETE SET NULL needs; session_participant loses its index on sid, which the unique constraint on
(sid, client_id) already provides.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cache_version',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cache_version'))
    )
    with op.batch_alter_table('authorization_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorization_code_grant_id'), ['grant_id'], unique=False)

    with op.batch_alter_table('session_participant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_participant_sid'))


def downgrade():
    with op.batch_alter_table('session_participant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_participant_sid'), ['sid'], unique=False)

    with op.batch_alter_table('authorization_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorization_code_grant_id'))

    op.drop_table('cache_version')
