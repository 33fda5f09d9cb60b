"""FER2013 and UTKFace loaders on small folders and csv files written by the tests."""

from __future__ import annotations

import hashlib
import os
import random

import cv2
import numpy as np
import pytest

from ml import image as ml_image
from ml.datasets import HELDOUT, FaceSet, load_fer, load_utkface, parse_utkface_name, utkface_slice
from ml.datasets import fer as fer_module
from ml.datasets import utkface as utkface_module
from ml.errors import DatasetError
from ml.image import read_image_file
from ml.labels import FER_CLASSES, MOODS
from ml.preprocessing import Preprocessing, face_crop, full_image_box, inside_source
from tests.ml.fake_faces import (
    face_like,
    make_fer_folder,
    make_utkface_folder,
    utkface_names,
    write_fer_csv,
    write_jpeg,
)

PARAMS = Preprocessing(input_size=48, color="gray", margin=0.1)


def test_kaggle_train_folder_loads_only_mood_classes_with_their_labels(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=2)

    faces = load_fer(root, PARAMS, show_progress=False)

    assert len(faces) == 4 * 2
    assert faces.images.shape == (8, 48, 48, 1) and faces.images.dtype == np.uint8
    by_name = dict(zip(faces.names, faces.emotion, strict=True))
    for fer_class in ("angry", "happy", "neutral", "sad"):
        files = os.listdir(root / "train" / fer_class)
        assert {by_name[f] for f in files} == {MOODS.index(fer_class)}
    assert set(faces.split) == {"Training"}
    assert faces.skipped == {"class not loaded": 3 * 2}
    assert (faces.age == -1).all() and (faces.gender == -1).all() and (faces.race == -1).all()


def test_kaggle_test_folder_keeps_public_and_private_test_apart_by_file_prefix(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=1)

    faces = load_fer(root, PARAMS, part="test", show_progress=False)

    for name, split in zip(faces.names, faces.split, strict=True):
        assert name.startswith(split + "_")
    assert sorted(set(faces.split)) == ["PrivateTest", "PublicTest"]


def test_all_seven_classes_load_when_asked_and_non_moods_have_no_emotion_label(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=1)

    faces = load_fer(root, PARAMS, classes=FER_CLASSES, show_progress=False)

    assert len(faces) == 7
    assert sorted(faces.emotion.tolist()) == [-1, -1, -1, 0, 1, 2, 3]
    assert faces.skipped == {}
    # every face keeps its FER2013 class, for a seven-class emotion output
    assert sorted(faces.expression.tolist()) == list(range(7))
    for expression, emotion in zip(faces.expression, faces.emotion, strict=True):
        fer_class = FER_CLASSES[expression]
        assert emotion == (MOODS.index(fer_class) if fer_class in MOODS else -1)


def test_a_face_set_without_expressions_derives_them_from_moods_and_keeps_them_in_a_cache():
    faces = FaceSet(
        images=np.zeros((3, 32, 32, 1), np.uint8),
        emotion=[2, -1, 0],
        age=[-1, 30, -1],
        gender=[-1, 1, -1],
        race=[-1, 0, -1],
        split=["train"] * 3,
        names=["a", "b", "c"],
    )

    assert [FER_CLASSES[i] if i >= 0 else None for i in faces.expression] == [
        "neutral",
        None,
        "angry",
    ]
    arrays = faces.arrays()
    assert FaceSet.from_arrays(arrays).expression.tolist() == faces.expression.tolist()
    arrays.pop("expression")  # a cache written before expressions were kept
    assert FaceSet.from_arrays(arrays).expression.tolist() == faces.expression.tolist()


def test_folder_crops_are_face_crop_of_the_decoded_file_for_train_serve_parity(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=1, classes=["happy"])
    params = Preprocessing(input_size=40, color="gray", margin=0.2)
    path = root / "train" / "happy" / os.listdir(root / "train" / "happy")[0]

    faces = load_fer(root, params, show_progress=False)

    _, image = read_image_file(path)
    expected = face_crop(image, full_image_box(*image.shape[:2], params), params)
    np.testing.assert_array_equal(faces.images[0], expected)


@pytest.mark.parametrize("csv_name", ["fer2013.csv", "fer2013.csv.gz"])
def test_csv_rows_map_emotion_index_and_usage_to_part_and_split(tmp_path, csv_name):
    rows = [
        (3, face_like(1, 48), "Training"),  # happy
        (6, face_like(2, 48), "Training"),  # neutral
        (2, face_like(3, 48), "Training"),  # fear: no mood
        (4, face_like(4, 48), "PublicTest"),  # sad
        (0, face_like(5, 48), "PrivateTest"),  # angry
    ]
    path = write_fer_csv(tmp_path / csv_name, rows)

    train = load_fer(path, PARAMS, show_progress=False)
    test = load_fer(path, PARAMS, part="test", show_progress=False)

    assert train.emotion.tolist() == [MOODS.index("happy"), MOODS.index("neutral")]
    assert train.split.tolist() == ["Training", "Training"]
    assert train.skipped == {"class not loaded": 1}
    assert test.emotion.tolist() == [MOODS.index("sad"), MOODS.index("angry")]
    assert test.split.tolist() == ["PublicTest", "PrivateTest"]


def test_a_folder_holding_fer2013_csv_gz_is_read_as_the_csv(tmp_path):
    write_fer_csv(tmp_path / "data" / "fer2013.csv.gz", [(3, face_like(1, 48), "Training")])

    faces = load_fer(tmp_path / "data", PARAMS, show_progress=False)

    assert faces.emotion.tolist() == [MOODS.index("happy")]
    assert faces.names == ["fer2013.csv.gz:1"]


def test_csv_and_lossless_folder_images_of_the_same_pixels_give_identical_crops(tmp_path):
    gray = face_like(9, 48)
    write_fer_csv(tmp_path / "fer2013.csv", [(3, gray, "Training")])
    png = tmp_path / "kaggle" / "train" / "happy" / "Training_1.png"
    png.parent.mkdir(parents=True)
    cv2.imwrite(str(png), gray)

    from_csv = load_fer(tmp_path / "fer2013.csv", PARAMS, show_progress=False)
    from_folder = load_fer(tmp_path / "kaggle", PARAMS, show_progress=False)

    np.testing.assert_array_equal(from_csv.images, from_folder.images)


def test_malformed_csv_pixels_and_blank_rows_are_skipped_and_counted(tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_text(
        "emotion,pixels,Usage\n"
        f"3,{' '.join(['7'] * 2304)},Training\n"  # flat grey
        "3,1 2 3,Training\n"  # not a square image
        f"3,{' '.join(str(v) for v in face_like(1, 48).reshape(-1))},Training\n"
    )

    faces = load_fer(path, PARAMS, show_progress=False)

    assert len(faces) == 1
    assert faces.skipped == {"blank image": 1, "unreadable image": 1}


def test_csv_without_the_expected_columns_is_a_dataset_error(tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_text("label,image\n1,2\n")

    with pytest.raises(DatasetError, match="emotion,pixels,Usage"):
        load_fer(path, PARAMS, show_progress=False)


def test_fer_all_black_and_corrupt_images_are_skipped_and_counted(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=1, classes=["happy"])
    write_jpeg(root / "train" / "happy" / "Training_black.jpg", np.zeros((48, 48), np.uint8))
    (root / "train" / "happy" / "Training_broken.jpg").write_bytes(b"\xff\xd8not a jpeg")

    faces = load_fer(root, PARAMS, show_progress=False)

    assert len(faces) == 1
    assert faces.skipped == {"blank image": 1, "unreadable image": 1}


def test_fer_images_listed_as_no_face_are_skipped_with_their_byte_identical_copies(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=1, classes=["happy", "sad"])
    sign = np.full((48, 48), 230, np.uint8)
    cv2.putText(sign, "?", (12, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 20, 3)
    listed = write_jpeg(root / "train" / "happy" / "Training_sign.jpg", sign)
    (root / "train" / "sad" / "Training_copy.jpg").write_bytes(listed.read_bytes())
    digest = hashlib.sha256(listed.read_bytes()).hexdigest()

    skipping = load_fer(root, PARAMS, show_progress=False, not_faces={digest})
    keeping = load_fer(root, PARAMS, show_progress=False, not_faces=())

    assert sorted(skipping.names) == ["Training_1.jpg", "Training_4.jpg"]
    assert skipping.skipped == {"not a face": 2}
    assert len(keeping) == 4 and "not a face" not in keeping.skipped


def test_the_shipped_no_face_list_names_each_fer2013_image_once_with_what_it_shows():
    lines = [
        line.split("\t")
        for line in fer_module.NOT_FACES_FILE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    digests = fer_module.read_not_faces()

    assert len(digests) == len(lines) >= 10
    for digest, path, shows in lines:
        assert digest in digests
        assert path.split("/")[0] in ("train", "test") and path.endswith(".jpg")
        assert shows.strip()
    assert len({path for _, path, _ in lines}) == len(lines)


def test_a_malformed_no_face_list_is_a_dataset_error(tmp_path):
    listing = tmp_path / "not_faces.tsv"
    listing.write_text("# comment\nnot-a-digest\ttrain/happy/Training_1.jpg\ttext\n")

    with pytest.raises(DatasetError, match="line 2"):
        fer_module.read_not_faces(listing)


def test_a_path_without_fer2013_data_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="train/<class>"):
        load_fer(tmp_path, PARAMS, show_progress=False)
    with pytest.raises(DatasetError, match="does not exist"):
        load_fer(tmp_path / "missing", PARAMS, show_progress=False)


def test_limit_takes_images_spread_over_all_classes(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=3, classes=["angry", "happy", "sad"])

    faces = load_fer(root, PARAMS, limit=3, show_progress=False)

    assert sorted(faces.emotion.tolist()) == [0, 1, 3]


@pytest.mark.parametrize(
    ("name", "age", "gender", "race"),
    [
        ("26_1_2_20170116174525125.jpg.chip.jpg", 26, 1, 2),
        ("39_1_20170116174525125.jpg.chip.jpg", 39, 1, -1),  # no race field
        ("55_0_0_20170116232725357jpg.chip.jpg", 55, 0, 0),  # no dot before jpg
        ("24_0_1_20170116220224657 .jpg.chip.jpg", 24, 0, 1),  # space before .jpg
        ("14_0_0_2017011022340900.jpg.chip.jpg", 14, 0, 0),  # short date
        ("28_1_2_201701161846515488.jpg.chip.jpg", 28, 1, 2),  # long date
    ],
)
def test_utkface_names_are_parsed_leniently(name, age, gender, race):
    labels = parse_utkface_name(name)

    assert (labels.age, labels.gender, labels.race) == (age, gender, race)


@pytest.mark.parametrize(
    "name", ["face.jpg", "30_2_0_20170116174525125.jpg", "999_0_0_20170116.jpg"]
)
def test_names_that_do_not_follow_the_utkface_pattern_are_not_parsed(name):
    assert parse_utkface_name(name) is None


def test_utkface_folder_loads_labels_and_skips_bad_files_without_failing(tmp_path):
    good = [
        "26_1_2_20170116174525125.jpg.chip.jpg",
        "39_1_20170116174525125.jpg.chip.jpg",
        "55_0_0_20170116232725357jpg.chip.jpg",
        "24_0_1_20170116220224657 .jpg.chip.jpg",
    ]
    root = make_utkface_folder(tmp_path / "utk", good)
    write_jpeg(root / "notes_about_faces.jpg", face_like(1, 200, color=True))
    write_jpeg(root / "30_0_0_20170116174525999.jpg.chip.jpg", np.zeros((200, 200, 3), np.uint8))
    (root / "31_0_0_20170116174525998.jpg.chip.jpg").write_bytes(b"broken")

    faces = load_utkface(root, PARAMS, show_progress=False)

    assert faces.skipped == {"unparseable name": 1, "blank image": 1, "unreadable image": 1}
    fields = zip(faces.names, faces.age, faces.gender, faces.race, strict=True)
    labels = {n: (a, g, r) for n, a, g, r in fields}
    assert labels == {
        good[0]: (26, 1, 2),
        good[1]: (39, 1, -1),
        good[2]: (55, 0, 0),
        good[3]: (24, 0, 1),
    }
    assert faces.images.shape == (4, 48, 48, 1)
    assert (faces.emotion == -1).all()


def test_utkface_chips_are_cropped_at_the_nominal_face_box(tmp_path):
    name = "26_1_2_20170116174525125.jpg.chip.jpg"
    root = make_utkface_folder(tmp_path / "utk", [name])

    faces = load_utkface(root, PARAMS, show_progress=False)

    _, chip = read_image_file(root / name)
    fx, fy, fw, fh = utkface_module.UTKFACE_FACE_BOX
    box = (fx * 200, fy * 200, fw * 200, fh * 200)
    np.testing.assert_array_equal(faces.images[0], face_crop(chip, box, PARAMS))
    np.testing.assert_array_equal(faces.inside[0], inside_source(chip.shape, box, PARAMS))


def test_utkface_val_slice_depends_only_on_each_file_name():
    names = utkface_names(400)
    val = {n for n in names if utkface_slice(n, b"", val_fraction=0.25) == "val"}

    # Other bytes, another order, another folder: the validation slice does not move.
    shuffled = names[:]
    random.Random(3).shuffle(shuffled)
    again = {n for n in shuffled if utkface_slice(n, n.encode(), val_fraction=0.25) == "val"}

    assert again == val
    assert 0.15 < len(val) / 400 < 0.35


def test_utkface_heldout_slice_follows_the_image_bytes_so_copies_stay_together(tmp_path):
    chips = [
        cv2.imencode(".jpg", face_like(seed, 64, color=True))[1].tobytes() for seed in range(40)
    ]
    names = utkface_names(120)
    root = tmp_path / "utk"
    root.mkdir()
    for i, name in enumerate(names):  # every chip stored three times under different names
        (root / name).write_bytes(chips[i % 40])

    faces = load_utkface(root, PARAMS, val_fraction=0.2, heldout_fraction=0.3, show_progress=False)

    by_name = dict(zip(faces.names, faces.split.tolist(), strict=True))
    for i, name in enumerate(names):
        expected = utkface_slice(name, chips[i % 40], val_fraction=0.2, heldout_fraction=0.3)
        assert by_name[name] == expected
    assert set(by_name.values()) == {"train", "val", HELDOUT}
    for chip in range(40):  # no copy of a held-out chip is trained on
        copies = {by_name[names[i]] for i in range(chip, 120, 40)} - {"val"}
        assert not (HELDOUT in copies and "train" in copies)


def test_fer_heldout_slice_takes_training_images_by_their_bytes_and_never_test_images(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=12)
    one = next((root / "train" / "happy").glob("*.jpg"))
    (root / "train" / "happy" / "Training_copy.jpg").write_bytes(one.read_bytes())

    train = load_fer(root, PARAMS, heldout_fraction=0.4, show_progress=False)
    test = load_fer(root, PARAMS, part="test", heldout_fraction=0.4, show_progress=False)
    everything = load_fer(root, PARAMS, heldout_fraction=0.0, show_progress=False)

    assert set(train.split) == {"Training", HELDOUT}
    assert 0.15 < np.mean(train.split == HELDOUT) < 0.65
    assert HELDOUT not in set(test.split)
    assert set(everything.split) == {"Training"}
    split = dict(zip(train.names, train.split.tolist(), strict=True))
    assert split["Training_copy.jpg"] == split[one.name]


def test_held_out_fractions_must_leave_images_to_train_on(tmp_path):
    root = make_utkface_folder(tmp_path / "utk", utkface_names(2), size=64)
    with pytest.raises(ValueError, match="leave images to train on"):
        load_utkface(root, PARAMS, val_fraction=0.5, heldout_fraction=0.5, show_progress=False)
    with pytest.raises(ValueError, match="heldout_fraction must be in"):
        load_fer(tmp_path, PARAMS, heldout_fraction=1.5, show_progress=False)


def test_second_load_reads_the_crop_cache_and_a_changed_file_invalidates_it(tmp_path, monkeypatch):
    names = utkface_names(3)
    root = make_utkface_folder(tmp_path / "utk", names, size=64)
    cache = tmp_path / "cache"
    first = load_utkface(root, PARAMS, cache_dir=cache, show_progress=False)
    assert len(list(cache.glob("utkface-*.npz"))) == 1

    def no_decoding(path, **kwargs):
        raise AssertionError(f"decoded {path} although the cache should have been used")

    monkeypatch.setattr(utkface_module, "read_image_file", no_decoding)
    second = load_utkface(root, PARAMS, cache_dir=cache, show_progress=False)
    np.testing.assert_array_equal(second.images, first.images)
    np.testing.assert_array_equal(second.inside, first.inside)
    assert second.names == first.names and second.split.tolist() == first.split.tolist()

    monkeypatch.setattr(utkface_module, "read_image_file", ml_image.read_image_file)
    changed = root / names[0]
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    load_utkface(root, PARAMS, cache_dir=cache, show_progress=False)
    assert len(list(cache.glob("utkface-*.npz"))) == 2


def test_fer_cache_is_keyed_by_preprocessing(tmp_path):
    root = make_fer_folder(tmp_path / "fer", per_class=1, classes=["sad"])
    cache = tmp_path / "cache"

    small = load_fer(root, Preprocessing(input_size=32), cache_dir=cache, show_progress=False)
    large = load_fer(root, Preprocessing(input_size=64), cache_dir=cache, show_progress=False)

    assert small.images.shape[1:] == (32, 32, 1) and large.images.shape[1:] == (64, 64, 1)
    assert len(list(cache.glob("fer-*.npz"))) == 2


def test_face_sets_concatenate_and_subset_keeping_labels_together():
    def faceset(n: int, emotion: int, age: float) -> FaceSet:
        return FaceSet(
            images=np.full((n, 32, 32, 1), n, np.uint8),
            inside=np.full((n, 32, 32, 1), 10 * n, np.uint8),
            emotion=np.full(n, emotion),
            age=np.full(n, age),
            gender=np.full(n, -1),
            race=np.full(n, -1),
            split=np.full(n, "train"),
            names=[f"{emotion}-{i}" for i in range(n)],
            skipped={"blank image": 1},
        )

    both = FaceSet.concat([faceset(2, 1, -1), faceset(3, -1, 40)])
    picked = both.subset([4, 0])

    assert len(both) == 5 and both.skipped == {"blank image": 2}
    assert picked.names == ["-1-2", "1-0"]
    assert picked.emotion.tolist() == [-1, 1] and picked.age.tolist() == [40, -1]
    assert picked.expression.tolist() == [-1, FER_CLASSES.index(MOODS[1])]
    assert picked.images[:, 0, 0, 0].tolist() == [3, 2]
    assert picked.inside[:, 0, 0, 0].tolist() == [30, 20]


def test_a_face_set_without_inside_masks_saw_its_images_everywhere_and_wrong_masks_are_refused():
    images = np.zeros((2, 32, 32, 3), np.uint8)
    labels = {
        "emotion": np.zeros(2),
        "age": np.zeros(2),
        "gender": np.zeros(2),
        "race": np.zeros(2),
        "split": np.full(2, "train"),
        "names": ["a", "b"],
    }

    assert (FaceSet(images=images, **labels).inside == 255).all()
    assert FaceSet(images=images, **labels).inside.shape == (2, 32, 32, 1)
    with pytest.raises(ValueError, match="inside masks of shape"):
        FaceSet(images=images, inside=np.zeros((2, 32, 32, 3), np.uint8), **labels)


def test_face_set_with_mismatched_label_lengths_is_refused():
    with pytest.raises(ValueError, match="labels per field"):
        FaceSet(
            images=np.zeros((2, 32, 32, 1), np.uint8),
            emotion=np.zeros(3),
            age=np.zeros(2),
            gender=np.zeros(2),
            race=np.zeros(2),
            split=np.full(2, "train"),
            names=["a", "b"],
        )


def test_spread_never_returns_more_than_the_limit():
    assert fer_module.spread(10, 4).tolist() == [0, 3, 6, 9]
    assert fer_module.spread(3, None).tolist() == [0, 1, 2]
