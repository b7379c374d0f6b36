"""Notification channels: one module per kind behind :class:`protocol.Channel`."""
