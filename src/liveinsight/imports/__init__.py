"""Imports of another analytics tool's aggregates: Plausible's CSV export and a Google
Analytics 4 export (``layout``: what a file holds; ``reader``: archives and their limits;
``ga4``: the GA4 layout; ``runner``: the import itself, from file to ``imported_*`` rows)."""
