"""Loads the default data a fresh install needs (idempotent)."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load the default mood-to-playlist mappings unless mappings already exist."

    def handle(self, *args, **options) -> None:
        self.stdout.write("No default data to load yet.")
