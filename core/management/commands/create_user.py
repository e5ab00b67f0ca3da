from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core import services
from core.management.commands.create_tenant import _describe
from core.models import (
    Role,
    Tenant,
)


class Command(BaseCommand):
    help = "Create a person in a tenant with one or more roles."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument(
            "--role", action="append", required=True, choices=Role.values, dest="roles"
        )
        parser.add_argument("--password", help="Without it, a password is generated and shown.")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, tenant, roles, password, email, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        try:
            user, generated = services.user_create(
                username=username, tenant=found, roles=roles, password=password, email=email
            )
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        self.stdout.write(
            f"Created {user.username} in {found.slug} with roles {', '.join(sorted(set(roles)))}."
        )
        if generated:
            self.stdout.write(f"Password (shown once): {generated}")
