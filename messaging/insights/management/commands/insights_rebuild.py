"""python manage.py insights_rebuild [--workspace ws_…]: recount the delivery dashboard's counts
from the stored messages (after an upgrade that brings the dashboard to existing data, or to
repair them)."""

import time

from django.core.management.base import BaseCommand

from messaging.insights.counting import insights_rebuild


class Command(BaseCommand):
    help = "Recount the delivery dashboard's counts from the stored messages."

    def add_arguments(self, parser):
        parser.add_argument(
            "--workspace",
            action="append",
            dest="workspaces",
            metavar="WORKSPACE_ID",
            help="Only this workspace (repeat for several); default: every workspace",
        )

    def handle(self, *args, workspaces=None, **options):
        started = time.monotonic()
        rows = insights_rebuild(workspace_ids=workspaces)
        self.stdout.write(f"Rebuilt the insights counts: {rows} rows in {time.monotonic() - started:.1f} s.")
