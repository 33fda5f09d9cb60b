"""Loads the default data a fresh install needs (idempotent)."""

from django.core.management.base import BaseCommand

from playlists.transfer import mappings_load_defaults


class Command(BaseCommand):
    help = "Load the default mood-to-playlist mappings unless mappings already exist."

    def handle(self, *args, **options) -> None:
        result = mappings_load_defaults()
        if result is None:
            self.stdout.write("Mood mappings already exist; defaults left alone.")
        else:
            self.stdout.write(f"Loaded {result.created} default mood mappings.")
