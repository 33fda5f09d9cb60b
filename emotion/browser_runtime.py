"""The browser's model runtime for on-device analysis: ONNX Runtime Web, pinned.

``scripts/install_browser_runtime.py`` (run by the install step) fetches the ``onnxruntime-web``
package from the npm registry, checks it against the pinned integrity and the pinned SHA-256 of
each file it keeps, and writes those files to ``RUNTIME_DIR``, inside the site's static files:
the site serves the runtime itself and the page never loads code from elsewhere. It writes
``INSTALLED_FILE`` last, so a folder without it is an install that did not finish.

Pure: no Django, so the install script can import it before the site is set up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"
#: The npm registry's ``dist.integrity`` of onnxruntime-web 1.30.0's tarball.
INTEGRITY = (
    "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXH"
    "F+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
)
#: The files the page needs, by role: the ES module with the ``ort`` API (WebAssembly backend
#: only), the Emscripten loader it imports, and the WebAssembly binary. Name -> SHA-256.
FILES: dict[str, tuple[str, str]] = {
    "module": (
        "ort.wasm.min.mjs",
        "219e6a1fc8a9938268d18efca3c91d310bd2f4a59bbd13744df5b2b7fc6cee3b",
    ),
    "loader": (
        "ort-wasm-simd-threaded.mjs",
        "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    ),
    "wasm": (
        "ort-wasm-simd-threaded.wasm",
        "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2",
    ),
}
#: Where the files are inside the package's tarball.
PACKAGE_FOLDER = "package/dist"
#: Where the static files' URL path and the folder on disk meet: static/<STATIC_PATH>/<file>.
STATIC_PATH = "vendor/onnxruntime-web"
#: The folder the install step writes (ignored by git; ``collectstatic`` picks it up).
RUNTIME_DIR = ROOT / "static" / STATIC_PATH
#: Written last by the install step: the version and the SHA-256 of each file.
INSTALLED_FILE = "installed.json"
#: The command that installs it, for messages.
INSTALL_COMMAND = ".venv/bin/python scripts/install_browser_runtime.py"


@dataclass(frozen=True)
class RuntimeStatus:
    """Whether the browser runtime is installed; ``reason`` says why not."""

    available: bool
    reason: str = ""


def runtime_status(folder: Path | None = None) -> RuntimeStatus:
    """Whether ``folder`` (default ``RUNTIME_DIR``) holds the pinned runtime, as the install
    step left it.

    A cheap check (the install step verified the bytes): the record it wrote last names the
    pinned version and every file is there.
    """
    folder = RUNTIME_DIR if folder is None else folder
    record = folder / INSTALLED_FILE
    try:
        installed = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RuntimeStatus(
            False,
            f"{PACKAGE} {VERSION} is not installed in {folder} (the install step needs npm: "
            f"run `{INSTALL_COMMAND}`).",
        )
    except (OSError, ValueError) as err:
        return RuntimeStatus(False, f"{record} is unreadable ({err}); run `{INSTALL_COMMAND}`.")
    if not isinstance(installed, dict) or installed.get("version") != VERSION:
        found = installed.get("version") if isinstance(installed, dict) else None
        return RuntimeStatus(
            False,
            f"Expected {PACKAGE} {VERSION} in {folder}, found {found!r}; run `{INSTALL_COMMAND}`.",
        )
    missing = [name for name, _ in FILES.values() if not (folder / name).is_file()]
    if missing:
        return RuntimeStatus(
            False, f"{folder} lacks {', '.join(missing)}; run `{INSTALL_COMMAND}`."
        )
    return RuntimeStatus(True)
