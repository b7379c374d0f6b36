"""alerting: leases, channels, rules, states, history, outbox, incidents, reports

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'alert_leases',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('holder', sa.String(length=64), nullable=False),
        sa.Column('expires_at', _TZ, nullable=False),
        sa.PrimaryKeyConstraint('name'))
    op.create_table(
        'alert_channels',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('created_at', _TZ, nullable=False),
        sa.PrimaryKeyConstraint('id'), sa.UniqueConstraint('name'))
    op.create_table(
        'alert_rules',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('definition', sa.JSON(), nullable=False),
        sa.Column('created_at', _TZ, nullable=False),
        sa.Column('updated_at', _TZ, nullable=False),
        sa.PrimaryKeyConstraint('id'), sa.UniqueConstraint('name'))
    op.create_table(
        'alert_states',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('series', sa.String(length=500), nullable=False),
        sa.Column('group_key', sa.String(length=500), nullable=False),
        sa.Column('labels', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('since', _TZ, nullable=False),
        sa.Column('fired_at', _TZ, nullable=True),
        sa.Column('notified_at', _TZ, nullable=True),
        sa.Column('acknowledged_at', _TZ, nullable=True),
        sa.Column('acknowledged_by', sa.String(length=255), nullable=True),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('flips', sa.JSON(), nullable=False),
        sa.Column('flapping', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ux_alert_states_rule_series', 'alert_states', ['rule_id', 'series'],
                    unique=True)
    op.create_table(
        'alert_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', _TZ, nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=True),
        sa.Column('rule_name', sa.String(length=100), nullable=False),
        sa.Column('group_key', sa.String(length=500), nullable=False),
        sa.Column('kind', sa.String(length=24), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('text', sa.String(length=2000), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_alert_events_at', 'alert_events', ['at'])
    op.create_index('ix_alert_events_rule_id', 'alert_events', ['rule_id'])
    op.create_table(
        'alert_outbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('created_at', _TZ, nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('message', sa.JSON(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('sent_at', _TZ, nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['channel_id'], ['alert_channels.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_alert_outbox_status', 'alert_outbox', ['status'])
    op.create_index('ix_alert_outbox_sent_at', 'alert_outbox', ['sent_at'])
    op.create_table(
        'incidents',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('assignee', sa.String(length=255), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('alerts', sa.JSON(), nullable=False),
        sa.Column('timeline', sa.JSON(), nullable=False),
        sa.Column('created_at', _TZ, nullable=False),
        sa.Column('updated_at', _TZ, nullable=False),
        sa.Column('resolved_at', _TZ, nullable=True),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_incidents_status', 'incidents', ['status'])
    op.create_table(
        'report_subscriptions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('site_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=8), nullable=False),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('last_period', sa.String(length=10), nullable=True),
        sa.Column('created_at', _TZ, nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_report_subscriptions_site_id', 'report_subscriptions', ['site_id'])


def downgrade() -> None:
    for table in ('report_subscriptions', 'incidents', 'alert_outbox', 'alert_events',
                  'alert_states', 'alert_rules', 'alert_channels', 'alert_leases'):
        op.drop_table(table)
