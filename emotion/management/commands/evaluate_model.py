"""``manage.py evaluate_model``: metrics of an exported model on FER2013 and UTKFace."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Evaluate an exported model: emotion on FER2013's test images, age and gender on "
        "UTKFace. Prints a table; --json FILE writes the results."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        from ml.evaluate import add_arguments

        add_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        from ml.evaluate import run

        try:
            _, report = run(options)
        except (FileNotFoundError, ValueError) as err:  # ModelNotFound, DatasetError, options
            raise CommandError(str(err)) from err
        self.stdout.write(report)
        if options.get("json"):
            self.stdout.write(f"\nWrote {options['json']}")
