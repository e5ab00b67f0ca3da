"""The WSGI application: the HTTP API and pages on a WSGI server (gunicorn's gthread workers
in bench/pipeline.py's comparison of server models). Production serves HTTP and websockets
from the ASGI application (config/asgi.py) on uvicorn (the Procfile's ``web`` line; README:
Server model)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from config.gc_freeze import freeze_startup_objects  # noqa: E402
from config.startup import load_before_serving  # noqa: E402

load_before_serving()  # what the first requests would load (config/startup.py)
freeze_startup_objects()
