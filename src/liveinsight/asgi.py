"""Entry point for ASGI servers: ``granian --interface asgi --factory liveinsight.asgi:app``."""

from fastapi import FastAPI

from liveinsight.app import create_app
from liveinsight.settings import load_settings


def app() -> FastAPI:
    """Build the app from the environment's settings (called once by the server)."""
    return create_app(load_settings())
