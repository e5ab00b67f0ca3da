"""Signed-in sessions, each with the person it belongs to.

Django's database sessions know their person only inside the encoded data, so ending all of
one person's sessions would mean decoding every session. This table (Django's own session
table plus ``user_id``, as its docs' "extending database-backed session engines" shows) lets
"sign out everywhere" and a deactivation end them with one ``DELETE``, and lets a socket check
on every action that its session still exists.
"""

from __future__ import annotations

from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class PersonSession(AbstractBaseSession):
    # The person's id (None before sign-in). Not a foreign key: a session row is written by the
    # session middleware, which must never fail on a person deleted meanwhile.
    user_id = models.IntegerField(null=True, blank=True, db_index=True, editable=False)

    class Meta:
        db_table = "orchestration_personsession"  # the table from before the model moved here
        verbose_name = "session"
