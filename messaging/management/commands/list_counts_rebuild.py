"""python manage.py list_counts_rebuild [--workspace ws_…]: count the lists' totals (messages,
conversations, contacts) again from their rows, a repair: the database's triggers keep them."""

import time

from django.core.management.base import BaseCommand

from messaging.list_counts import list_counts_rebuild


class Command(BaseCommand):
    help = "Count the messages, conversations and contacts lists' totals again from their rows."

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
        rows = list_counts_rebuild(workspace_ids=workspaces)
        self.stdout.write(f"Rebuilt the list counts: {rows} rows in {time.monotonic() - started:.1f} s.")
