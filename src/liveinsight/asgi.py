"""Entry point for ASGI servers: ``granian --interface asgi --factory liveinsight.asgi:app``."""

from liveinsight.api.frontdoor import FrontDoor
from liveinsight.app import create_app
from liveinsight.settings import load_settings


def app() -> FrontDoor:
    """Build the app from the environment's settings (called once by the server)."""
    return create_app(load_settings())
