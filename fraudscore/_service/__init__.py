"""The reference service: an ASGI app (``app``) that scores and records events over HTTP, and
the gunicorn application that runs it with uvicorn workers (``server``, ``fraudscore serve``).

The app's modules import Starlette; the library never imports this package."""

from fraudscore._service.app import Service, ServiceConfig, create_app

__all__ = ["Service", "ServiceConfig", "create_app"]
