from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from core import services


class Command(BaseCommand):
    help = "Create a tenant and print a new API key for it (the key is the last line)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--time-zone", default="UTC")
        parser.add_argument(
            "--currency", default="EUR", help="ISO 4217 code of the tenant's amounts (EUR)."
        )
        parser.add_argument("--key-name", default="default")

    def handle(self, *args, slug, name, time_zone, currency, key_name, **options):
        try:
            tenant = services.tenant_create(
                slug=slug, name=name, time_zone=time_zone, currency=currency.upper()
            )
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        _, raw = services.api_key_create(tenant=tenant, name=key_name)
        self.stdout.write(
            f"Created tenant {tenant.slug} ({tenant.name}), time zone {tenant.time_zone}, "
            f"currency {tenant.currency}."
        )
        self.stdout.write("API key (shown once; send it as 'Authorization: Bearer <key>'):")
        self.stdout.write(raw)


def _describe(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
