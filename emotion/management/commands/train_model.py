"""``manage.py train_model``: train the face model (a thin interface over ``ml.train``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.train_config import add_arguments, config_from_options


class Command(BaseCommand):
    help = (
        "Train the emotion/age/gender model on FER2013 and UTKFace folders; writes checkpoints, "
        "a report and the exported model under --out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = config_from_options(options)
        except ValueError as err:
            raise CommandError(str(err)) from err
        from ml.train import train  # imports TensorFlow: only when the command really runs

        result = train(config, echo=self.stdout.write)
        if "lr_find" in result:
            return
        if result.get("paused"):
            self.stdout.write(
                f"Paused after epoch {result['epoch']} in {config.out}; "
                "run the same command with --resume to continue."
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Model exported to {result['export']}"))
