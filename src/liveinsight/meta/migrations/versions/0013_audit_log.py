"""audit log: hash-chained records of state changes and security events, and the chain's head

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    head = op.create_table(
        'audit_head',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('pruned_through', sa.Integer(), nullable=False),
        sa.Column('pruned_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS, "pruned_through": 0,
                           "pruned_hash": GENESIS}])
    op.create_table(
        'audit_log',
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=400), nullable=False),
        sa.Column('action', sa.String(length=200), nullable=False),
        sa.Column('target', sa.String(length=1000), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('site_id', sa.Integer(), nullable=True),
        sa.Column('client', sa.String(length=32), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('seq'))
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_action', 'audit_log', ['action'])
    op.create_index('ix_audit_log_site_id', 'audit_log', ['site_id'])


def downgrade() -> None:
    op.drop_index('ix_audit_log_site_id', 'audit_log')
    op.drop_index('ix_audit_log_action', 'audit_log')
    op.drop_index('ix_audit_log_at', 'audit_log')
    op.drop_table('audit_log')
    op.drop_table('audit_head')
