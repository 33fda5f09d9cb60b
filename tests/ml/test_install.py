"""Installing an export as the served model replaces, never adds."""

import json

import pytest
from django.core.management import CommandError, call_command

from ml.export import load_metadata
from ml.install import install_export
from ml.runtime import load_runner


def test_installing_copies_one_model_file_and_metadata_listing_only_it(tiny_model_dir, tmp_path):
    target = tmp_path / "served"

    installed = install_export(tiny_model_dir, target, browser=False)

    assert sorted(p.name for p in target.iterdir()) == ["metadata.json", "model_int8.tflite"]
    assert installed == target / "model_int8.tflite"
    assert load_metadata(target).files == {"tflite_int8": "model_int8.tflite"}
    assert load_runner(target).input_shape == (48, 48, 1)


def test_installing_for_the_page_adds_the_exports_onnx_form(tiny_model_dir, tmp_path):
    target = tmp_path / "served"

    install_export(tiny_model_dir, target)

    assert sorted(p.name for p in target.iterdir()) == [
        "metadata.json",
        "model.onnx",
        "model_int8.tflite",
    ]
    assert load_metadata(target).files == {
        "tflite_int8": "model_int8.tflite",
        "onnx": "model.onnx",
    }
    assert load_runner(target).name == "tflite-int8"  # the server still runs int8
    assert (target / "model.onnx").read_bytes() == (tiny_model_dir / "model.onnx").read_bytes()


def test_a_reinstall_removes_the_previous_model_files(tiny_model_dir, tmp_path):
    target = tmp_path / "served"
    install_export(tiny_model_dir, target, runtime="int8")

    install_export(tiny_model_dir, target, runtime="fp32", browser=False)

    assert sorted(p.name for p in target.iterdir()) == ["metadata.json", "model_fp32.tflite"]
    meta = json.loads((target / "metadata.json").read_text())
    assert meta["files"] == {"tflite_fp32": "model_fp32.tflite"}


def test_installing_from_a_folder_without_an_export_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metadata\.json"):
        install_export(tmp_path / "nothing", tmp_path / "served")


def test_the_install_model_command_reports_what_it_installed(tiny_model_dir, tmp_path, capsys):
    call_command("install_model", str(tiny_model_dir), "--to", str(tmp_path / "served"))

    assert "Installed" in capsys.readouterr().out
    assert (tmp_path / "served" / "model_int8.tflite").is_file()


def test_the_install_model_command_turns_a_bad_export_into_a_command_error(tmp_path):
    with pytest.raises(CommandError, match=r"metadata\.json"):
        call_command("install_model", str(tmp_path), "--to", str(tmp_path / "served"))
