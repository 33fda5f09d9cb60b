"""Install ONNX Runtime Web into the site's static files; run by the install step.

On-device analysis runs the face detector and the network in the listener's browser with the
``onnxruntime-web`` package from the npm registry. This script fetches the pinned version with
``npm pack`` (the registry's own client, so npm's proxy and registry settings apply), checks the
tarball against the registry's pinned integrity (SHA-512) and each file it keeps against its
pinned SHA-256, and writes the three files the page needs to ``static/vendor/onnxruntime-web/``
(ignored by git; ``collectstatic`` picks it up). Nothing is loaded from a CDN at run time.

Without npm, or when the registry cannot be reached, it says so and exits 0: the site then runs
with server analysis only, and says why in its log and on the page.

    python scripts/install_browser_runtime.py            # idempotent
    python scripts/install_browser_runtime.py --strict   # a failure exits 1
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emotion.browser_runtime import (  # noqa: E402
    FILES,
    INSTALL_COMMAND,
    INSTALLED_FILE,
    INTEGRITY,
    PACKAGE,
    PACKAGE_FOLDER,
    RUNTIME_DIR,
    VERSION,
)

#: Longest wait for ``npm pack`` (the tarball is 33 MB).
NPM_TIMEOUT_SECONDS = 300


class InstallError(Exception):
    """The runtime could not be fetched or did not check out; the message says why."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def integrity_of(data: bytes) -> str:
    """npm's Subresource-Integrity form of ``data``: ``sha512-<base64>``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def installed(folder: Path) -> bool:
    """Whether ``folder`` already holds the pinned files, byte for byte."""
    try:
        record = json.loads((folder / INSTALLED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record.get("version") != VERSION:
        return False
    return all(
        (folder / name).is_file() and sha256((folder / name).read_bytes()) == digest
        for name, digest in FILES.values()
    )


def fetch_tarball(folder: Path) -> Path:
    """The pinned package's tarball, downloaded into ``folder`` by ``npm pack``."""
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm was not found on PATH (install Node.js and npm).")
    try:
        done = subprocess.run(  # noqa: S603 - npm with fixed arguments
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(folder), "--json"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise InstallError(f"npm pack took longer than {NPM_TIMEOUT_SECONDS} s.") from err
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise InstallError(f"npm pack failed ({done.returncode}): {' '.join(tail)}")
    tarballs = sorted(folder.glob("*.tgz"))
    if len(tarballs) != 1:
        raise InstallError(f"Expected one tarball from npm pack, got {len(tarballs)}.")
    return tarballs[0]


def files_from_tarball(tarball: Path) -> dict[str, bytes]:
    """The pinned files out of ``tarball``, each checked; the tarball checked first."""
    got = integrity_of(tarball.read_bytes())
    if got != INTEGRITY:
        raise InstallError(f"{tarball.name} has integrity {got}, expected the pinned {INTEGRITY}.")
    files = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for name, digest in FILES.values():
            member = archive.extractfile(f"{PACKAGE_FOLDER}/{name}")  # read, never extracted
            if member is None:
                raise InstallError(f"{tarball.name} has no {PACKAGE_FOLDER}/{name}.")
            data = member.read()
            if sha256(data) != digest:
                raise InstallError(f"{name} in {tarball.name} does not have the SHA-256 {digest}.")
            files[name] = data
    return files


def write(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` and then the record of them, each atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / INSTALLED_FILE).unlink(missing_ok=True)  # the folder is incomplete until the end
    record = {
        "package": PACKAGE,
        "version": VERSION,
        "integrity": INTEGRITY,
        "license": "MIT",
        "files": {name: sha256(data) for name, data in files.items()},
    }
    for name, data in [*files.items(), (INSTALLED_FILE, json.dumps(record, indent=2).encode())]:
        partial = folder / f"{name}.{os.getpid()}.partial"
        partial.write_bytes(data)
        os.replace(partial, folder / name)


def install(folder: Path) -> None:
    if installed(folder):
        print(f"{PACKAGE} {VERSION} already installed in {folder}.")
        return
    with tempfile.TemporaryDirectory(prefix="musicmood-ort-") as tmp:
        files = files_from_tarball(fetch_tarball(Path(tmp)))
    write(folder, files)
    size = sum(len(data) for data in files.values())
    print(f"Installed {PACKAGE} {VERSION} ({size} bytes, integrity checked) in {folder}.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", type=Path, default=RUNTIME_DIR, help="target folder")
    parser.add_argument("--strict", action="store_true", help="exit 1 when it cannot install")
    args = parser.parse_args()
    try:
        install(args.to)
    except InstallError as err:
        print(
            f"WARNING: {PACKAGE} {VERSION} was not installed: {err} The site still runs, with "
            "analysis on the server only (on-device analysis is unavailable, and the page says "
            f"so). Run `{INSTALL_COMMAND}` again once npm works.",
            file=sys.stderr,
        )
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
