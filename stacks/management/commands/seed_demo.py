from django.core.management.base import BaseCommand
from django.db import transaction

from stacks.demo import seed_demo


class Command(BaseCommand):
    help = "Load the demo tenant (safe to run again: it only adds what is missing)."

    def handle(self, *args, **options):
        with transaction.atomic():
            report = seed_demo()
        for line in report:
            self.stdout.write(line)
