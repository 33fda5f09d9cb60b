"""The install step of the browser runtime: pinned, checked, and never in the way of the site."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from emotion.browser_runtime import FILES, INSTALLED_FILE, VERSION, runtime_status
from musicmood.stack import ROOT

SCRIPT = ROOT / "scripts" / "install_browser_runtime.py"


def run_install(*args: str, path: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_npm_the_install_step_says_why_and_still_succeeds(tmp_path):
    target = tmp_path / "runtime"
    done = run_install("--to", str(target), path=str(tmp_path))  # a PATH without npm
    assert done.returncode == 0
    assert "npm was not found" in done.stderr
    assert "analysis on the server only" in done.stderr
    assert not target.exists()
    assert run_install("--to", str(target), "--strict", path=str(tmp_path)).returncode == 1


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import install_browser_runtime as install
    finally:
        sys.path.remove(str(SCRIPT.parent))
    tarball = tmp_path / "onnxruntime-web.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, _ in FILES.values():
            data = b"not the runtime"
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(install.InstallError, match="integrity"):
        install.files_from_tarball(tarball)


def test_the_site_sees_an_unfinished_or_other_version_install_as_missing(tmp_path):
    assert not runtime_status(tmp_path).available
    for name, _ in FILES.values():
        (tmp_path / name).write_bytes(b"x")
    assert "is not installed" in runtime_status(tmp_path).reason  # no record written last
    (tmp_path / INSTALLED_FILE).write_text(json.dumps({"version": "1.0.0"}))
    assert "found '1.0.0'" in runtime_status(tmp_path).reason
    (tmp_path / INSTALLED_FILE).write_text(json.dumps({"version": VERSION}))
    assert runtime_status(tmp_path).available
