"""Entry point for ASGI servers: ``granian --interface asgi --factory liveinsight.asgi:app``."""

import os
from pathlib import Path

from starlette.types import ASGIApp

from liveinsight.app import create_app
from liveinsight.settings import load_settings
from liveinsight.workers import OWNER_ENV, ROOT_ENV, claim_slot, wait_for_owner


def app() -> ASGIApp:
    """Build the app from the environment's settings (called once by each worker). A worker
    of ``serve --workers N`` first claims its slot: its own data dir (liveinsight.workers)."""
    root = os.environ.get(ROOT_ENV)
    if root:
        os.environ["LIVEINSIGHT_DATA_DIR"] = str(claim_slot(Path(root)))
        owner = os.environ.get(OWNER_ENV)
        if owner:  # started (or respawned) while the owner restarts: wait for it
            wait_for_owner(owner)
    return create_app(load_settings())
