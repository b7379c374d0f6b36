"""api key usage plans: a key's own request rate and burst

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_limit', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('burst_limit', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('burst_limit')
        batch_op.drop_column('rate_limit')
