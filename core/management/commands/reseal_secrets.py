from django.core.management.base import BaseCommand, CommandError

from core.secret_rotation import secrets_reseal


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (runtime API keys, webhook signing secrets) under the "
        "first key of SECRETS_KEYS, so the older keys can be removed. Safe to run again."
    )

    def handle(self, *args, **options):
        report = secrets_reseal()
        self.stdout.write(
            f"Re-encrypted {report.resealed} secret(s) under the newest key; "
            f"{report.current} already were."
        )
        if report.unreadable:
            where = ", ".join(f"{label} {pk}" for label, pk in report.unreadable)
            raise CommandError(
                f"{len(report.unreadable)} secret(s) cannot be decrypted with any key in "
                f"SECRETS_KEYS ({where}); put the key they were sealed with back in "
                "SECRETS_KEYS, or set those secrets again."
            )
