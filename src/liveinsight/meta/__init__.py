"""Metadata: sites, users, API keys, salts, goals — SQLite by default, PostgreSQL at scale."""
