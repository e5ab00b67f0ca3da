from django.core.management.base import BaseCommand
from django.db import transaction

from stacks.demo import demo_guide, seed_demo


class Command(BaseCommand):
    help = "Load the demo tenant (safe to run again: it only adds what is missing)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--site",
            help="Also print where the pages are on this site (http://127.0.0.1:8000) and "
            "the walkthrough (`./run up` does).",
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            report = seed_demo()
        if options["site"]:
            report.extend(demo_guide(options["site"]))
        for line in report:
            self.stdout.write(line)
