"""Websocket routes, mounted by config/asgi.py behind the origin check and session auth.

The inbox (``/ws/inbox/``) and customer (``/ws/conversations/<id>/``) consumers are added here
by the handover work; until then every websocket path is refused by the router.
"""

websocket_urlpatterns: list = []
