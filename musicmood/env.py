"""Typed reads of environment variables: the one place settings come from."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Reads settings from ``os.environ`` with defaults and clear errors for bad values."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def str(self, name: str, default: str = "") -> str:
        return self.environ.get(name, default)

    def choice(self, name: str, default: str, choices: tuple[str, ...] | None = None) -> str:
        """A one-word setting: unset or empty gives ``default``; with ``choices``, any other
        value stops start-up with a message naming them."""
        value = self.environ.get(name, "").strip() or default
        if choices is not None and value not in choices:
            raise ImproperlyConfigured(
                f"{name} must be one of {', '.join(choices)}, got {value!r}."
            )
        return value

    def path(self, name: str, default: str | os.PathLike[str]) -> str:
        """A folder or file; unset or empty gives ``default`` (``Path("")`` is the current
        folder, never what an empty setting means)."""
        raw = self.environ.get(name, "")
        return raw if raw.strip() else os.fspath(default)

    def bool(self, name: str, default: bool = False) -> bool:
        raw = self.environ.get(name)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}.")

    def int(self, name: str, default: int) -> int:
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}.") from None

    def float(self, name: str, default: float) -> float:
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return float(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}.") from None

    def list(self, name: str, default: list[str]) -> list[str]:
        raw = self.environ.get(name)
        if raw is None:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]


env = Env()
