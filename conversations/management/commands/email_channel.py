"""Set up a tenant's e-mail channel from the shell (README, "E-mail"): prints the inbound
address and, when it is made or rotated, the signing secret (shown this once)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.urls import reverse

from conversations.email import email_channel_setup, email_secret_rotate
from core.models import Tenant


class Command(BaseCommand):
    help = "Make (or show) a tenant's e-mail channel; --rotate gives it a new signing secret."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument("--from", dest="from_address", default="", help="replies come from")
        parser.add_argument("--from-name", default="", help="the sender's name")
        parser.add_argument("--rotate", action="store_true", help="a new signing secret")
        parser.add_argument(
            "--base-url", default="http://localhost:8000", help="where this server is reached"
        )

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r}")
        if options["from_address"]:
            try:
                validate_email(options["from_address"])
            except ValidationError:
                raise CommandError("--from must be an e-mail address") from None
        channel, secret = email_channel_setup(
            tenant=tenant,
            from_address=options["from_address"],
            from_name=options["from_name"],
        )
        if options["rotate"] and secret is None:
            secret = email_secret_rotate(channel=channel)
        url = options["base_url"].rstrip("/") + reverse(
            "email-inbound", args=[channel.inbound_token]
        )
        self.stdout.write(f"inbound address: {url}")
        self.stdout.write(f"replies from:    {channel.from_address or '(DEFAULT_FROM_EMAIL)'}")
        if secret:
            self.stdout.write(f"signing secret:  {secret}  (shown this once)")
        else:
            self.stdout.write("signing secret:  set (--rotate for a new one)")
