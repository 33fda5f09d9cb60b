"""``manage.py install_model``: make a training run's export the model the site serves."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.errors import IncompatibleModel, ModelNotFound
from ml.export import RUNTIME_FILES
from ml.install import install_export


class Command(BaseCommand):
    help = (
        "Copy an export's model file and metadata.json into the served model folder "
        "(MUSICMOOD_MODEL, by default models/default), replacing the model there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export", type=Path, help="export folder, e.g. runs/default/export")
        parser.add_argument(
            "--to", type=Path, default=None, help="target folder (default: MUSICMOOD_MODEL)"
        )
        parser.add_argument(
            "--runtime", choices=tuple(RUNTIME_FILES), default="int8", help="model file to install"
        )
        parser.add_argument(
            "--no-browser",
            dest="browser",
            action="store_false",
            help="leave out model.onnx, the form the page runs in on-device mode",
        )

    def handle(self, *args, **options) -> None:
        target = options["to"] or Path(settings.MUSICMOOD_MODEL)
        try:
            installed = install_export(
                options["export"], target, runtime=options["runtime"], browser=options["browser"]
            )
        except (ModelNotFound, IncompatibleModel, FileNotFoundError, ValueError) as err:
            raise CommandError(str(err)) from err
        size_mb = installed.stat().st_size / 1e6
        self.stdout.write(self.style.SUCCESS(f"Installed {installed} ({size_mb:.1f} MB)."))
