"""Websocket routes, mounted by config/asgi.py behind the origin check and session auth."""

from django.urls import path

from handover.consumers import CustomerConsumer, InboxConsumer, TeamConsumer

websocket_urlpatterns = [
    path("ws/inbox/", InboxConsumer.as_asgi()),
    path("ws/team/", TeamConsumer.as_asgi()),
    path("ws/conversations/<uuid:conversation_id>/", CustomerConsumer.as_asgi()),
]
