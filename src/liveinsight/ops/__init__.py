"""Operating the service: metrics, logs, health."""
