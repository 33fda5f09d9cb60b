"""The web process: daphne serving MusicMood, with websocket limits that follow its protocol.

``python -m musicmood.serve -b 127.0.0.1 -p 8000`` runs daphne's own command line (every daphne
option works; the application is always ``musicmood.asgi:application``) with two changes:

- the largest websocket message is ``WS_MESSAGE_MAX_BYTES`` (at least ``FRAME_MAX_BYTES``,
  which daphne's fixed 1 MiB default silently capped), so an oversized frame up to that size
  reaches the consumer and gets a ``frame_too_large`` error with the socket kept open;
- a message over it, or a text message that is not UTF-8, closes the socket with a close frame
  (1009 "message too big", 1007 "invalid payload") and one log line, where daphne dropped the
  TCP connection without a word (the client saw 1006).
"""

from __future__ import annotations

import logging
import os
import sys

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

logger = logging.getLogger(__name__)

APPLICATION = "musicmood.asgi:application"


class ClosingWebSocketProtocol(WebSocketProtocol):
    """daphne's websocket protocol, logging the sockets it fails in one line."""

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self.failedByMe:
            logger.info(
                "Closed a websocket from %s with code %s: %s",
                self.client_addr[0] if self.client_addr else "?",
                self.localCloseCode,
                self.localCloseReason.decode("utf-8", "replace")
                if isinstance(self.localCloseReason, bytes)
                else self.localCloseReason,
            )
        super().onClose(wasClean, code, reason)


class MusicMoodServer(Server):
    """daphne's server whose websockets close with a close frame when they fail."""

    def __init__(self, *args, ready_callable=None, **kwargs) -> None:
        super().__init__(*args, ready_callable=self._websockets_ready, **kwargs)
        self._ready_then = ready_callable

    def _websockets_ready(self) -> None:
        # Server.run() calls this after making its websocket factory and before the reactor
        # accepts any connection; the options are copied to each new connection.
        self.ws_factory.protocol = ClosingWebSocketProtocol
        self.ws_factory.setProtocolOptions(failByDrop=False)
        if self._ready_then is not None:
            self._ready_then()


class MusicMoodCommandLine(CommandLineInterface):
    """daphne's command line, serving ``APPLICATION`` with ``MusicMoodServer``."""

    server_class = MusicMoodServer


def daphne_arguments(argv: list[str], *, max_message_bytes: int) -> list[str]:
    """daphne's arguments: the caller's, the message size limit unless given, the app last."""
    args = list(argv)
    for option in ("--websocket-max-message-size", "--websocket-max-frame-size"):
        if not any(arg == option or arg.startswith(option + "=") for arg in args):
            args += [option, str(max_message_bytes)]
    return [*args, APPLICATION]


def main(argv: list[str] | None = None) -> None:
    """Run the web process (blocks until it is stopped)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "musicmood.settings")
    from django.conf import settings

    args = daphne_arguments(
        sys.argv[1:] if argv is None else argv, max_message_bytes=settings.WS_MESSAGE_MAX_BYTES
    )
    MusicMoodCommandLine().run(args)


if __name__ == "__main__":
    main()
