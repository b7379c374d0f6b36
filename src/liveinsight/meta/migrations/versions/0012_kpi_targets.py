"""kpi targets: a target per KPI of a site or of the total across sites

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'kpi_targets',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('site_id', sa.Integer(), nullable=True),
        sa.Column('metric', sa.String(length=130), nullable=False),
        sa.Column('target', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_kpi_targets_site_id', 'kpi_targets', ['site_id'])


def downgrade() -> None:
    op.drop_index('ix_kpi_targets_site_id', 'kpi_targets')
    op.drop_table('kpi_targets')
