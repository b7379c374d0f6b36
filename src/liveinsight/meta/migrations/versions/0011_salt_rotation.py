"""salt rotation: a site's visitor-id salt may rotate weekly or monthly (period salts)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sites') as batch:
        batch.add_column(sa.Column('salt_rotation', sa.String(length=8), nullable=False,
                                   server_default='daily'))
    op.create_table(
        'period_salts',
        sa.Column('period', sa.String(length=12), nullable=False),
        sa.Column('starts', sa.Date(), nullable=False),
        sa.Column('salt', sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint('period'))
    op.create_index('ix_period_salts_starts', 'period_salts', ['starts'])


def downgrade() -> None:
    op.drop_index('ix_period_salts_starts', 'period_salts')
    op.drop_table('period_salts')
    with op.batch_alter_table('sites') as batch:
        batch.drop_column('salt_rotation')
