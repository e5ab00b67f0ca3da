"""The session engine (``SESSION_ENGINE``): Django's database sessions, stored in
``PersonSession`` with the id of the person signed in, so all of a person's sessions can be
found and ended at once (``core.services.person_sign_out_everywhere``)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

from core.models import PersonSession


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        return PersonSession

    def create_model_instance(self, data):
        session = cast(PersonSession, super().create_model_instance(data))  # get_model_class's
        try:
            session.user_id = int(data.get(SESSION_KEY))
        except (TypeError, ValueError):
            session.user_id = None
        return session
