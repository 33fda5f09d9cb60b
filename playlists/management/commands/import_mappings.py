"""Reads mood mappings from a JSON file written by export_mappings or the admin."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from playlists.transfer import MappingImportError, mappings_import


class Command(BaseCommand):
    help = "Import mood mappings from JSON; identical mappings are updated, not duplicated."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="JSON file in the export_mappings format.")

    def handle(self, *args, path: str, **options) -> None:
        try:
            result = mappings_import(document=Path(path).read_text(encoding="utf-8"))
        except (OSError, MappingImportError) as err:
            raise CommandError(str(err)) from err
        self.stdout.write(f"Created {result.created}, updated {result.updated} mood mappings.")
