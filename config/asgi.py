"""The ASGI application: HTTP to Django, websockets through origin checks and session auth.

With ``IN_PROCESS_RUNNER`` on and no broker (the embedded default, ``./run up``), this process
also runs the Celery tasks and the periodic sweeps (``config/runner.py``): started here, once
the application is loaded, and stopped at exit.
"""

import atexit
import logging
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before the consumers (and the models they import) load.
django.setup(set_prefix=False)
from config.asgi_handler import SyncChainASGIHandler  # noqa: E402

django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import (  # noqa: E402
    AllowedHostsOriginValidator,
    WebsocketDenier,
)
from django.conf import settings  # noqa: E402
from django.urls import re_path  # noqa: E402

from config import runner  # noqa: E402
from config.admission import Admission  # noqa: E402
from config.body_limit import BodyLimit  # noqa: E402
from config.celery import app as celery_app  # noqa: E402
from config.gc_freeze import freeze_startup_objects  # noqa: E402
from config.security import WebsocketNulRefusal  # noqa: E402
from config.socket_threads import auth_middleware_stack  # noqa: E402
from config.startup import load_before_serving  # noqa: E402
from handover.routing import websocket_urlpatterns  # noqa: E402

# A socket to any other path is refused at the handshake (HTTP 403), not an error of the router.
refuse_unknown_paths = [re_path(r"", WebsocketDenier.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": BodyLimit(Admission(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(
            WebsocketNulRefusal(
                auth_middleware_stack(URLRouter([*websocket_urlpatterns, *refuse_unknown_paths]))
            )
        ),
    }
)

if settings.IN_PROCESS_RUNNER and celery_app.conf.task_always_eager:
    runner.start(workers=settings.IN_PROCESS_RUNNER_THREADS)
    atexit.register(runner.stop)
elif settings.IN_PROCESS_RUNNER:
    logging.getLogger(__name__).warning(
        "IN_PROCESS_RUNNER is ignored: tasks go to the broker (run a Celery worker and beat)"
    )

# load what the first requests would (config/startup.py); then keep the collector off it all
# (config/gc_freeze.py)
load_before_serving()
freeze_startup_objects()
