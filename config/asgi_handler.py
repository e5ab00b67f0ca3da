"""Django's ASGI handler with its middleware chain built as under WSGI: one trip to a thread
per request instead of three.

Django builds the chain for async mode under ASGI. Every middleware of ours is sync-only, so
each request went from the event loop to a thread for the middleware, back to the loop
(``AsyncToSync``) to resolve the view, and to a thread again for the view. Here the chain is
built in sync mode and runs whole on the request's thread, as under WSGI. The request's
started and finished signals run on that same thread (Django's handler wraps each request in
a ``ThreadSensitiveContext``), so the database connection the request took goes back to the
pool as before. Every view is sync; an async one would still work (Django adapts it).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncChainASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
