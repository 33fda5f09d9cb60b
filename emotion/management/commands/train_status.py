"""``manage.py train_status``: one line per training run saying where it stands (``ml.runs``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ml.runs import RUNS_ENV, main


class Command(BaseCommand):
    help = f"Say where each training run in ${RUNS_ENV} (or each one named) stands."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("runs", nargs="*", help="run names or folders (default: all)")

    def handle(self, *args: Any, **options: Any) -> None:
        main(options["runs"])
