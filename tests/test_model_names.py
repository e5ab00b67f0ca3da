"""The admin's sidebar and pages name every model in plain English: Django makes a plural by
adding "s", so a model whose name ends in a consonant and "y" needs its own ("canned replys")."""

from __future__ import annotations

import re

from django.apps import apps


def test_no_model_is_named_with_a_made_up_plural():
    ours = [m for m in apps.get_models() if not m.__module__.startswith(("django.", "django_"))]
    assert len(ours) > 20  # the search found our models
    wrong = [
        f"{m._meta.label}: {m._meta.verbose_name_plural}"
        for m in ours
        if re.search(r"[^aeiou]ys$", str(m._meta.verbose_name_plural))
    ]
    assert wrong == []
