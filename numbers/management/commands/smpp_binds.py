"""`manage.py smpp_binds`: the process that holds every SMPP account's bind (Procfile: smpp)."""

import logging
import signal

from django.core.management.base import BaseCommand

from numbers.providers.smpp.binds import BindManager

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Hold the SMPP binds of every SMPP carrier account and send their queued messages."

    def add_arguments(self, parser):
        parser.add_argument(
            "--account",
            type=int,
            action="append",
            dest="accounts",
            help="Only this provider account id (repeatable).",
        )

    def handle(self, *args, accounts=None, **options):
        manager = BindManager(account_ids=accounts)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: manager.stop())
        logger.info("SMPP bind process started")
        manager.run_forever()
        logger.info("SMPP bind process stopped")
