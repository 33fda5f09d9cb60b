"""Two models compared face by face: paired differences and their standard errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml.comparison import compare, face_scores, live_face_scores, paired
from ml.evaluate import main
from ml.labels import MOODS
from ml.live import LIVE_SIZES
from musicmood import samples

from .fake_faces import labelled_faces
from .test_live import astronaut_folders


def test_the_paired_difference_is_known_more_finely_than_either_figure():
    # Four faces: two hard for both models, one only the candidate reads, one both read.
    candidate = np.array([0.0, 0.0, 1.0, 1.0, np.nan])
    baseline = np.array([0.0, 0.0, 0.0, 1.0, 1.0])

    figure = paired(candidate, baseline)

    assert figure["n"] == 4  # the face the candidate did not score is left out of both
    assert figure["candidate"] == 0.5 and figure["baseline"] == 0.25
    assert figure["difference"] == 0.25
    assert figure["se"] == pytest.approx(np.std([0, 0, 1, 0], ddof=1) / 2)
    # Unpaired, each figure alone would be known only to about this:
    assert figure["se"] < np.std([0, 0, 1, 1], ddof=1) / 2
    assert paired(np.array([1.0]), np.array([0.0]))["se"] is None


def test_faces_are_paired_by_name_whatever_their_order_and_the_gaps_compared_face_by_face():
    ours = {
        "fer": {
            "names": ["a.jpg", "b.jpg", "c.jpg"],
            "crops": {"accuracy": np.array([1.0, 1.0, 0.0])},
            "live": {"accuracy": np.array([1.0, 0.0, 0.0])},
        }
    }
    theirs = {
        "fer": {
            "names": ["c.jpg", "a.jpg", "only-theirs.jpg"],
            "crops": {"accuracy": np.array([1.0, 0.0, 1.0])},
            "live": {"accuracy": np.array([0.0, 0.0, 1.0])},
        },
        "utkface": {"names": [], "crops": {}},
    }

    result = compare(ours, theirs)

    assert set(result) == {"fer"}  # UTKFace was evaluated for one model only
    fer = result["fer"]
    assert fer["faces"] == 2  # a and c
    # crops: a 1 vs 0, c 0 vs 1
    assert fer["crops"]["accuracy"]["difference"] == 0.0
    assert fer["crops"]["accuracy"]["se"] == pytest.approx(1.0)
    # live: a 1 vs 0, c 0 vs 0
    assert fer["live"]["accuracy"]["difference"] == 0.5
    # live minus crops: a 0 vs 0, c 0 vs -1
    gap = fer["gap"]["accuracy"]
    assert (gap["candidate"], gap["baseline"], gap["difference"]) == (0.0, -0.5, 0.5)


def test_each_face_scores_on_its_crop_and_as_the_mean_of_its_live_frames():
    happy, sad = MOODS.index("happy"), MOODS.index("sad")
    fer = face_scores(
        "fer", labelled_faces([happy, sad], [-1, -1], [-1, -1]), {"emotion": np.eye(4)[[1, 1]]}
    )
    utk = face_scores(
        "utkface",
        labelled_faces([-1, -1], [30, -1], [1, 0]),
        {"age": np.array([[25.0], [40.0]]), "gender": np.array([[0.7], [0.6]])},
    )

    np.testing.assert_array_equal(fer["accuracy"], [1.0, 0.0])
    np.testing.assert_array_equal(utk["age_mae"], [5.0, np.nan])  # no age label: no score
    np.testing.assert_array_equal(utk["gender_accuracy"], [1.0, 0.0])
    # two faces at three sizes, sizes one after the other
    live = live_face_scores({"accuracy": np.array([1, 0, 1, 0, 0, 1])}, views=3)
    np.testing.assert_allclose(live["accuracy"], [2 / 3, 1 / 3])
    with pytest.raises(ValueError, match="not 4 views"):
        live_face_scores({"accuracy": np.zeros(6)}, views=4)


def test_the_baseline_option_reports_each_difference_face_by_face(
    tiny_model_dir, astronaut_bgr, tmp_path
):
    fer, utk = astronaut_folders(tmp_path, astronaut_bgr)
    for chip, age in zip(sorted(utk.iterdir()), (30, 35), strict=True):  # not a symmetric pair
        chip.rename(utk / f"{age}_{chip.name.split('_', 1)[1]}")
    # The same network reading every face older: its ages differ, its moods do not.
    older = samples.tiny_model()
    age = older.get_layer("age_raw")
    kernel, bias = age.get_weights()
    age.set_weights([kernel, bias + 0.5])
    baseline = samples.export_tiny_model(older, tmp_path / "baseline")
    common = ["--fer", str(fer), "--utkface", str(utk), "--live", "--detector"]
    common += ["retinaface-mobilenet"]
    out, alone, card = tmp_path / "eval.json", tmp_path / "alone.json", tmp_path / "card.md"

    assert main(["--model", str(tiny_model_dir), *common, "--baseline", str(baseline),
                 "--json", str(out), "--markdown", str(card)]) == 0  # fmt: skip
    assert main(["--model", str(baseline), *common, "--json", str(alone)]) == 0

    results, theirs = json.loads(out.read_text()), json.loads(alone.read_text())
    assert "scores" not in results and "scores" not in theirs  # no per-face scores written
    compared = results["baseline"]
    assert compared["model"] == str(baseline) and "int8" in compared["runtime"]
    assert compared["fer"]["faces"] == 2 and compared["utkface"]["faces"] == 2
    # Each side's figures are the ones its own evaluation reports, crops and live alike.
    age = compared["utkface"]["crops"]["age_mae"]
    assert age["candidate"] == pytest.approx(results["utkface"]["age_mae"])
    assert age["baseline"] == pytest.approx(theirs["utkface"]["age_mae"])
    assert age["difference"] == pytest.approx(age["candidate"] - age["baseline"])
    assert abs(age["difference"]) > 1.0
    live_age = compared["utkface"]["live"]["age_mae"]
    assert live_age["candidate"] == pytest.approx(results["live"]["utkface"]["all"]["age_mae"])
    assert live_age["baseline"] == pytest.approx(theirs["live"]["utkface"]["all"]["age_mae"])
    assert compared["utkface"]["gap"]["age_mae"]["candidate"] == pytest.approx(
        results["live"]["utkface"]["gap"]["age_mae"]["total"]
    )
    mood = compared["fer"]["live"]["accuracy"]
    assert mood["candidate"] == results["live"]["fer"]["all"]["accuracy"] == 0.5
    assert (mood["difference"], mood["se"]) == (0.0, 0.0)  # both always say happy
    assert len(LIVE_SIZES) * 2 == results["live"]["fer"]["all"]["n"]
    text = card.read_text()
    assert f"against {baseline}" in text
    assert (
        "| FER2013 mood accuracy, live path, all frames | 50.0 % | 50.0 % | +0.0 ± 0.0 points |"
        in text
    )


def test_a_test_time_lever_is_weighed_against_the_same_model_read_without_it(
    tiny_model_dir, astronaut_bgr, tmp_path
):
    fer, utk = astronaut_folders(tmp_path, astronaut_bgr)
    common = ["--model", str(tiny_model_dir), "--fer", str(fer), "--utkface", str(utk)]
    out, plain = tmp_path / "lever.json", tmp_path / "plain.json"

    assert main([*common, "--shift", "3", "--baseline", str(tiny_model_dir),
                 "--baseline-shift", "0", "--json", str(out)]) == 0  # fmt: skip
    assert main([*common, "--json", str(plain)]) == 0

    results, served = json.loads(out.read_text()), json.loads(plain.read_text())
    compared = results["baseline"]
    assert results["runtime"] == served["runtime"] + "+shift3"
    assert compared["runtime"] == served["runtime"]  # the baseline read as served
    age = compared["utkface"]["crops"]["age_mae"]
    assert age["candidate"] == pytest.approx(results["utkface"]["age_mae"])
    assert age["baseline"] == pytest.approx(served["utkface"]["age_mae"])


def test_the_baseline_reading_options_are_refused_without_a_baseline(
    tiny_model_dir, astronaut_bgr, tmp_path, capsys
):
    fer, utk = astronaut_folders(tmp_path, astronaut_bgr)
    out = tmp_path / "out.json"
    common = ["--model", str(tiny_model_dir), "--fer", str(fer), "--utkface", str(utk)]

    assert main([*common, "--baseline-shift", "0", "--json", str(out)]) == 2
    assert main([*common, "--baseline-mirror", "off", "--json", str(out)]) == 2
    assert "--baseline" in capsys.readouterr().err
    assert not out.exists()  # refused before any work
