"""Entry point for ASGI servers: ``granian --interface asgi --factory liveinsight.asgi:app``."""

from starlette.types import ASGIApp

from liveinsight.app import create_app
from liveinsight.settings import load_settings


def app() -> ASGIApp:
    """Build the app from the environment's settings (called once by the server)."""
    return create_app(load_settings())
