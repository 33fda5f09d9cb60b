"""The live-path evaluation: faces composed into camera frames and analyzed as served."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ml.analysis import FaceAnalysis
from ml.evaluate import main
from ml.inference import Analyzer
from ml.labels import MOODS
from ml.live import (
    FACE_FREE_ROOMS,
    FACE_FREE_SAMPLES,
    FACE_FREE_VIEWS,
    LIVE_FRAME,
    LIVE_SIZES,
    compose_frame,
    count_false_faces,
    face_free_frames,
    fer_live_metrics,
    gap_by_cause,
    utkface_live_metrics,
)
from musicmood import samples

from .fake_faces import labelled_faces


def astronaut_folders(tmp_path, astronaut_bgr):
    """A FER2013 test/ folder of gray 48x48 astronaut faces and a UTKFace folder of chips."""
    face = astronaut_bgr[60:240, 140:320]  # about the face alone, as dataset images are
    fer = tmp_path / "fer"
    for index, mood in enumerate(("happy", "sad")):
        folder = fer / "test" / mood
        folder.mkdir(parents=True)
        gray = cv2.cvtColor(cv2.resize(face, (48, 48)), cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(folder / f"PublicTest_{index}.jpg"), gray)
    utk = tmp_path / "utk"
    utk.mkdir()
    chip = cv2.resize(face, (200, 200))
    for name in ("25_1_0_20170109150557335.jpg.chip.jpg", "61_0_2_20170110183726390.jpg.chip.jpg"):
        cv2.imwrite(str(utk / name), chip)
    return fer, utk


def test_a_composed_frame_holds_the_face_where_it_says(astronaut_bgr):
    frame, (x, y, w, h) = compose_frame(astronaut_bgr, 160, seed=3)
    assert frame.shape == (LIVE_FRAME[1], LIVE_FRAME[0], 3)
    assert w == h == 160 and 0 <= x <= LIVE_FRAME[0] - w and 0 <= y <= LIVE_FRAME[1] - h
    inside = cv2.resize(astronaut_bgr, (160, 160), interpolation=cv2.INTER_AREA)[20:140, 20:140]
    np.testing.assert_allclose(frame[y + 20 : y + 140, x + 20 : x + 140], inside, atol=1)
    again, place = compose_frame(astronaut_bgr, 160, seed=3)
    assert place == (x, y, w, h) and np.array_equal(again, frame)  # deterministic


def test_an_edge_frame_holds_the_same_face_in_the_same_place_amid_its_replicated_edge(
    astronaut_bgr,
):
    room, placed = compose_frame(astronaut_bgr, 160, seed=3)
    edge, (x, y, w, h) = compose_frame(astronaut_bgr, 160, seed=3, fill="edge")

    assert edge.shape == room.shape and (x, y, w, h) == placed
    scaled = cv2.resize(astronaut_bgr, (160, 160), interpolation=cv2.INTER_AREA)
    assert np.array_equal(edge[y : y + h, x : x + w], scaled)  # no feathering: the image itself
    # Left of the image, each row repeats its first column; above it, each column its first row.
    np.testing.assert_array_equal(edge[y : y + h, :x], np.repeat(scaled[:, :1], x, axis=1))
    np.testing.assert_array_equal(edge[:y, x : x + w], np.repeat(scaled[:1], y, axis=0))
    assert edge[0, 0].tolist() == scaled[0, 0].tolist()  # corners take the image's corner
    with pytest.raises(ValueError, match="fill must be one of"):
        compose_frame(astronaut_bgr, 160, seed=3, fill="mirror")


def test_the_live_mode_says_which_background_its_frames_had(
    tiny_model_dir, astronaut_bgr, tmp_path
):
    _, utk = astronaut_folders(tmp_path, astronaut_bgr)
    out, card = tmp_path / "eval.json", tmp_path / "card.md"
    args = ["--model", str(tiny_model_dir), "--utkface", str(utk), "--live"]
    args += ["--detector", "retinaface-mobilenet", "--json", str(out), "--markdown", str(card)]

    assert main([*args, "--live-background", "edge"]) == 0

    live = json.loads(out.read_text())["live"]
    assert live["background"] == "edge"
    assert all(r == 1.0 for r in live["utkface"]["recall"].values()), live["utkface"]["recall"]
    assert live["utkface"]["all"]["n"] == 2 * len(LIVE_SIZES)
    assert "live path (retinaface-mobilenet, edge background)" in card.read_text()


def test_the_live_mode_writes_its_keys_beside_the_direct_crop_figures(
    tiny_model_dir, astronaut_bgr, tmp_path
):
    fer, utk = astronaut_folders(tmp_path, astronaut_bgr)
    out = tmp_path / "eval.json"
    card = tmp_path / "card.md"
    status = main(
        [
            "--model",
            str(tiny_model_dir),
            "--fer",
            str(fer),
            "--utkface",
            str(utk),
            "--live",
            "--detector",
            "retinaface-mobilenet",
            "--json",
            str(out),
            "--markdown",
            str(card),
        ]
    )
    assert status == 0
    results = json.loads(out.read_text())
    live = results["live"]
    assert live["detector"] == "retinaface-mobilenet"
    assert live["sizes"] == LIVE_SIZES and live["background"] == "room"
    for dataset in ("fer", "utkface"):
        assert set(live[dataset]["recall"]) == set(LIVE_SIZES)
        assert all(r == 1.0 for r in live[dataset]["recall"].values()), live[dataset]["recall"]
    assert live["fer"]["all"]["n"] == 2 * len(LIVE_SIZES)
    assert live["fer"]["found"]["n"] == 2 * len(LIVE_SIZES)
    # The tiny model always says happy: right for the happy faces, wrong for the sad ones.
    assert live["fer"]["found"]["accuracy"] == 0.5 == results["fer"]["accuracy"]
    assert live["utkface"]["all"]["n"] == 2 * len(LIVE_SIZES)
    assert live["utkface"]["found"]["age_mae"] is not None
    for name in LIVE_SIZES:  # each size's found faces on their own
        assert live["fer"]["by_size"][name] == {"n": 2, "accuracy": 0.5}
        assert live["utkface"]["by_size"][name]["n"] == 2
        assert live["utkface"]["by_size"][name]["age_mae"] >= 0
    assert 0.0 <= live["utkface"]["all"]["gender_accuracy"] <= 1.0
    assert "live path (retinaface-mobilenet)" in card.read_text()
    by_decade = live["utkface"]["all"]["by_decade"]  # every frame in the decade of its face
    assert sum(r["n"] for r in by_decade.values()) == live["utkface"]["all"]["n"]
    assert "| age decade | frames | age MAE (years) | gender accuracy |" in card.read_text()
    # Every face found: the crops of the found faces are all the crops, and nothing is missed.
    assert live["fer"]["found"]["crops_accuracy"] == results["fer"]["accuracy"]
    assert live["fer"]["gap"]["accuracy"] == {
        "total": 0.0,
        "found_faces": 0.0,
        "missed_faces": 0.0,
        "total_se": 0.0,
        "found_faces_se": 0.0,
    }
    utk_found, utk_gap = live["utkface"]["found"], live["utkface"]["gap"]
    assert utk_found["crops_age_mae"] == pytest.approx(results["utkface"]["age_mae"])
    assert utk_found["crops_gender_accuracy"] == results["utkface"]["gender_accuracy"]
    assert utk_gap["age_mae"]["missed_faces"] == 0.0
    assert utk_gap["age_mae"]["total"] == pytest.approx(
        live["utkface"]["all"]["age_mae"] - results["utkface"]["age_mae"]
    )
    assert "live minus crops, all frames" in card.read_text()
    # each gap with its standard error over faces, which nothing moves here
    assert "+0.0 ± 0.0 points (found +0.0 ± 0.0, missed +0.0)" in card.read_text()
    face_free = live["face_free"]
    assert face_free["photos"]["frames"] == len(FACE_FREE_SAMPLES) * FACE_FREE_VIEWS
    assert face_free["rooms"]["frames"] == FACE_FREE_ROOMS
    assert face_free["all"]["frames"] == face_free["photos"]["frames"] + FACE_FREE_ROOMS
    assert 0.0 <= face_free["all"]["rate"] <= 1.0
    assert "frames with no face: a face reported" in card.read_text()


def test_face_free_frames_are_camera_sized_and_the_same_on_every_call():
    frames = face_free_frames(samples=("clock", "logo", "horse"), views=3, rooms=2)

    assert [len(frames["photos"]), len(frames["rooms"])] == [3 * 3, 2]
    for frame in frames["photos"] + frames["rooms"]:
        assert frame.shape == (LIVE_FRAME[1], LIVE_FRAME[0], 3) and frame.dtype == np.uint8
        assert frame.std() > 5  # a picture, not a flat fill
    again = face_free_frames(samples=("clock", "logo", "horse"), views=3, rooms=2)
    assert all(np.array_equal(a, b) for a, b in zip(frames["photos"], again["photos"], strict=True))


def test_false_faces_count_the_frames_where_the_analyzer_reports_a_face(
    tiny_model_dir,
):
    analyzer = Analyzer.load(tiny_model_dir, detector="retinaface-mobilenet", threads=1)
    astronaut = samples.astronaut_frame()
    grey = np.full_like(astronaut, 128)

    counts = count_false_faces(analyzer, {"photos": [astronaut, grey], "rooms": [grey, grey, grey]})

    assert counts["photos"] == {"frames": 2, "with_face": 1, "rate": 0.5}
    assert counts["rooms"] == {"frames": 3, "with_face": 0, "rate": 0.0}
    assert counts["all"] == {"frames": 5, "with_face": 1, "rate": 0.2}


def test_the_gap_to_the_crops_splits_into_found_and_missed_faces_that_add_up():
    live = np.array([1, 0, 0, 1, 0], float)  # frames 2 and 4 missed (scored 0)
    crops = np.array([1, 1, 0, 1, 1], float)
    found = np.array([True, True, False, True, False])

    gap = gap_by_cause(live, crops, found)

    assert gap["total"] == pytest.approx(live.mean() - crops.mean())  # -0.4
    assert gap["found_faces"] == pytest.approx(-1 / 5)  # frame 1: right on its crop only
    assert gap["missed_faces"] == pytest.approx(-1 / 5)  # frame 4 would have been right
    assert gap["found_faces"] + gap["missed_faces"] == pytest.approx(gap["total"])


def test_the_gaps_standard_error_counts_faces_not_frames():
    # Two faces, each seen at three sizes: face 0 always reads right live and on its crop,
    # face 1 is right on its crop and wrong live at every size.
    live = np.array([1, 0, 1, 0, 1, 0], float)
    crops = np.ones(6)
    found = np.ones(6, bool)

    gap = gap_by_cause(live, crops, found, views=3)

    assert gap["total"] == pytest.approx(-0.5)
    # Per face: 0 and -1; their mean's standard error is 0.5. Six independent frames
    # would have claimed sqrt(0.3 / 6) = 0.22.
    assert gap["total_se"] == pytest.approx(0.5)
    assert gap["found_faces_se"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not 4 views"):
        gap_by_cause(live, crops, found, views=4)
    assert gap_by_cause(live[:1], crops[:1], found[:1])["total_se"] is None


def _analysis(mood: str, age: float, female: float) -> FaceAnalysis:
    emotion = {m: 0.9 if m == mood else 0.1 / (len(MOODS) - 1) for m in MOODS}
    return FaceAnalysis((0, 0, 10, 10), 0.9, emotion, age, "adult", female)


def test_a_missed_face_costs_what_its_crop_would_have_read():
    happy, sad = MOODS.index("happy"), MOODS.index("sad")
    faces = labelled_faces([happy, sad], [-1, -1], [-1, -1])
    crops = {"emotion": np.eye(len(MOODS))[[happy, sad]]}  # both crops read right
    found = {"near": [_analysis("happy", 30, 0.5), None], "far": [_analysis("sad", 30, 0.5), None]}

    result = fer_live_metrics(faces, found, crops)

    # Live: the happy face read as happy near and as sad far; the sad face never found.
    assert result["all"]["accuracy"] == 0.25
    assert result["found"]["crops_accuracy"] == 1.0
    gap = result["gap"]["accuracy"]
    assert {k: gap[k] for k in ("total", "found_faces", "missed_faces")} == pytest.approx(
        {"total": -0.75, "found_faces": -0.25, "missed_faces": -0.5}
    )
    # Per face over its two sizes: happy -0.5 (wrong far), sad -1 (missed twice).
    assert gap["total_se"] == pytest.approx(np.std([-0.5, -1.0], ddof=1) / np.sqrt(2))
    assert gap["found_faces_se"] == pytest.approx(np.std([-0.5, 0.0], ddof=1) / np.sqrt(2))


def test_age_and_gender_gaps_split_alike_over_the_labelled_faces():
    faces = labelled_faces([-1, -1], [20, 60], [1, 0])
    crops = {"age": np.array([[22.0], [58.0]]), "gender": np.array([[0.9], [0.2]])}
    found = {"near": [_analysis("happy", 30, 0.8), None]}

    result = utkface_live_metrics(faces, found, crops)

    # The 20-year-old woman found (read 30, female); the 60-year-old man missed, his age taken
    # as the mean predicted age (30) and his gender as wrong.
    assert result["found"]["crops_age_mae"] == pytest.approx(2.0)
    assert result["found"]["crops_gender_accuracy"] == 1.0
    age = result["gap"]["age_mae"]
    assert age["found_faces"] == pytest.approx((10 - 2) / 2)
    assert age["missed_faces"] == pytest.approx((30 - 2) / 2)
    assert age["total"] == pytest.approx(result["all"]["age_mae"] - 2.0)
    gender = result["gap"]["gender_accuracy"]
    assert {k: gender[k] for k in ("total", "found_faces", "missed_faces")} == pytest.approx(
        {"total": -0.5, "found_faces": 0.0, "missed_faces": -0.5}
    )


def test_live_age_and_gender_are_told_by_decade_of_the_true_age_over_all_frames():
    faces = labelled_faces([-1, -1, -1], [5, 8, 60], [1, 0, -1])
    # The two children read 30 years old and female at both sizes; the 60-year-old, whose
    # gender is unknown, is missed at both sizes and taken at the mean predicted age (30).
    found = {
        "near": [_analysis("happy", 30, 0.9), _analysis("happy", 30, 0.9), None],
        "far": [_analysis("happy", 30, 0.9), _analysis("happy", 30, 0.9), None],
    }

    by_decade = utkface_live_metrics(faces, found)["all"]["by_decade"]

    assert by_decade == {
        "0-9": {"n": 4, "age_mae": pytest.approx((25 + 22) / 2), "gender_accuracy": 0.5},
        "60-69": {"n": 2, "age_mae": pytest.approx(30.0), "gender_accuracy": None},
    }


def test_the_live_path_reads_faces_with_the_mirror_setting_the_crops_were_read_with(
    tiny_model_dir,
):
    from ml.runtime import Mirrored

    served = Analyzer.load(tiny_model_dir, detector="retinaface-mobilenet")
    plain = Analyzer.load(tiny_model_dir, detector="retinaface-mobilenet", mirror=False)
    mirrored = Analyzer.load(tiny_model_dir, detector="retinaface-mobilenet", mirror=True)

    assert isinstance(mirrored.runner, Mirrored) and not isinstance(plain.runner, Mirrored)
    assert isinstance(served.runner, Mirrored) == served.metadata.mirror_average


def test_the_live_mode_reads_shifted_views_as_the_crops_do(tiny_model_dir, astronaut_bgr, tmp_path):
    from ml.runtime import Shifted

    _, utk = astronaut_folders(tmp_path, astronaut_bgr)
    out = tmp_path / "shift.json"
    args = ["--model", str(tiny_model_dir), "--utkface", str(utk), "--live", "--shift", "2"]

    assert main([*args, "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["shift"] == 2 and data["live"]["runtime"] == data["runtime"]
    assert data["runtime"].endswith("+shift2")
    assert data["live"]["utkface"]["all"]["n"] == data["utkface"]["n"] * len(data["live"]["sizes"])
    shifted = Analyzer.load(tiny_model_dir, detector="retinaface-mobilenet", shift=2)
    assert isinstance(shifted.runner, Shifted) and shifted.runner.pixels == 2
