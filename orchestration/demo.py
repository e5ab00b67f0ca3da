"""The demo tenant: what ``manage.py seed_demo`` loads. Idempotent: a second run adds only
what is missing and never changes a password someone has set."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model

from orchestration import services
from orchestration.models import ApiKey, BusinessHours, Tenant

DEMO_SLUG = "demo"
DEMO_PEOPLE = [
    # username, password, roles, full name
    ("manager", "demo-manager", ["manager"], "Maria Manager"),
    ("agent1", "demo-agent1", ["agent"], "Ada Agent"),
    ("agent2", "demo-agent2", ["agent"], "Alan Agent"),
    ("approver", "demo-approver", ["approver"], "Priya Approver"),
]


def seed_demo() -> list[str]:
    report: list[str] = []
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    if tenant is None:
        tenant = services.tenant_create(
            slug=DEMO_SLUG, name="Demo Outfitters", time_zone="Europe/London"
        )
        for weekday in range(5):
            BusinessHours.objects.create(
                tenant=tenant, weekday=weekday, opens=dt.time(8), closes=dt.time(20)
            )
        BusinessHours.objects.create(
            tenant=tenant, weekday=5, opens=dt.time(10), closes=dt.time(16)
        )
        report.append(f"Created tenant {tenant.slug} ({tenant.name}).")
    else:
        report.append(f"Tenant {tenant.slug} already there.")

    user_model = get_user_model()
    for username, password, roles, full_name in DEMO_PEOPLE:
        if user_model.objects.filter(username=username).exists():
            continue
        first, last = full_name.split(" ", 1)
        user, _ = services.user_create(
            username=username,
            tenant=tenant,
            roles=roles,
            password=password,
            email=f"{username}@demo.example",
        )
        user.first_name, user.last_name = first, last
        user.save(update_fields=["first_name", "last_name"])

    if not ApiKey.objects.filter(tenant=tenant, name="demo").exists():
        _, raw = services.api_key_create(tenant=tenant, name="demo")
        report.append(f"Demo API key (shown once): {raw}")

    report.append("Demo logins (username / password):")
    report.extend(
        f"  {username:<9} / {password:<14} {', '.join(roles)}"
        for username, password, roles, _ in DEMO_PEOPLE
    )
    return report
