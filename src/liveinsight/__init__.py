"""LiveInsight: self-hosted, real-time, privacy-friendly web analytics."""

__version__ = "0.1.0"
