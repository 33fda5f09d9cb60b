"""Writes the mood mappings as JSON to a file or standard output."""

import json

from django.core.management.base import BaseCommand

from playlists.transfer import mappings_export


class Command(BaseCommand):
    help = "Export all mood mappings as JSON (the format import_mappings and the admin read)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", nargs="?", help="File to write; standard output when left out.")

    def handle(self, *args, path: str | None = None, **options) -> None:
        text = json.dumps(mappings_export(), indent=2, ensure_ascii=False) + "\n"
        if path:
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
            self.stdout.write(f"Wrote {path}.")
        else:
            self.stdout.write(text, ending="")
