from django.core.management.base import BaseCommand

from core.permissions import markdown


class Command(BaseCommand):
    help = (
        "Print the permission matrix (orchestration/permissions.py) as Markdown: every "
        "operation of the API, every page and the inbox socket's actions and events, by role."
    )

    def handle(self, *args, **options):
        self.stdout.write(markdown(), ending="")
