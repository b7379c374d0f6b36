"""Alerting: rules over metrics and traffic, their evaluation under a cluster-wide lease,
notification channels, escalation and fatigue control, incidents and e-mail reports."""
