"""The WSGI application: the HTTP API and pages, for gunicorn's gthread workers (``./run prod``,
the Procfile's ``web`` line). Websockets are served by the ASGI application (config/asgi.py) on
uvicorn, behind the proxy's path rule for ``/ws/``. Sync views run on the worker's own threads,
with no hop between an event loop and a thread per request (README: Server model)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
