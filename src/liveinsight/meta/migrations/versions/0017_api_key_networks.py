"""api key networks: keyed hashes of the /24 or /48 prefixes each key was used from

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_key_networks',
        sa.Column('key_id', sa.Integer(), nullable=False),
        sa.Column('network', sa.String(length=32), nullable=False),
        sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['key_id'], ['api_keys.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('key_id', 'network'))


def downgrade() -> None:
    op.drop_table('api_key_networks')
