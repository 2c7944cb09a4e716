"""Files beside a search's Tune experiment, on a local folder, through pyarrow's URI path (``file://``) and on a
real S3 endpoint (SeaweedFS on loopback), and a promotion member's predictions read back from each; storage
mistakes (no such bucket, wrong credentials, wrong endpoint) are one line naming the storage."""
from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from search import storage as store
from search.members import PREDICTIONS_FILE, RECORD_FILE, MemberRecord, save_predictions


@pytest.fixture(params=["folder", "uri", "s3"])
def location(request, tmp_path):
    if request.param == "s3":
        request.getfixturevalue("s3_env")
        return f"s3://tune/{tmp_path.name}"
    return str(tmp_path / "storage") if request.param == "folder" else (tmp_path / "storage").as_uri()


def test_text_and_folders_round_trip(location, tmp_path):
    target = store.join(location, "search", "sensorium-search", "record.json")
    assert store.read_text(target) is None and not store.exists(target)
    store.write_text(target, '{"name": "search"}')
    store.write_text(target, '{"name": "again"}')  # replaced, not appended
    assert store.read_text(target) == '{"name": "again"}' and store.exists(target)
    local = tmp_path / "made"
    (local / "sub").mkdir(parents=True)
    (local / "sub" / "a.txt").write_text("a")
    store.put_folder(local, store.join(location, "search", "copied"))
    assert store.list_folders(store.join(location, "search")) == ["copied", "sensorium-search"]
    back = store.get_folder(store.join(location, "search", "copied"), tmp_path / "back")
    assert (back / "sub" / "a.txt").read_text() == "a"
    assert store.list_folders(store.join(location, "nowhere")) == []


def test_a_member_reads_back_static_and_video_predictions(location, tmp_path):
    static = np.arange(12, dtype=np.float32).reshape(3, 4)
    video = [np.ones((5, 4), np.float32), np.zeros((7, 4), np.float32)]
    made = tmp_path / "member"
    made.mkdir()
    save_predictions(made / PREDICTIONS_FILE, iter([("s1", "test", static), ("m2", "final_test", video)]))
    folder = MemberRecord.location(location, "abc", 100)
    assert MemberRecord.find(location, "abc", 100) is None
    store.put_folder(made, folder)
    assert MemberRecord.find(location, "abc", 100) is None  # not complete before member.json
    store.write_text(store.join(folder, RECORD_FILE), json.dumps(
        {"trial_id": "abc", "seed": 100, "validation_corr": 0.5, "epochs": 3, "split": "x", "skip": 0}))
    member = MemberRecord.find(location, "abc", 100)
    assert member is not None and member.folder == folder
    with member.stored_predictions() as read:
        np.testing.assert_array_equal(read("s1", "test"), static)
        got = read("m2", "final_test")
    assert [a.shape for a in got] == [(5, 4), (7, 4)]
    np.testing.assert_array_equal(got[0], video[0])
    np.testing.assert_array_equal(got[1], video[1])
    with np.load(store.get_folder(folder, tmp_path / "copy") / PREDICTIONS_FILE) as plain:   # numpy's own reader
        assert sorted(plain.files) == ["a0", "a1", "a2", "index"]


def test_a_member_reads_one_session_tier_without_loading_the_others(tmp_path):
    big = np.ones((2000, 500), np.float32)   # 4 MB: another mouse's tier
    small = np.arange(8, dtype=np.float32).reshape(2, 4)
    save_predictions(tmp_path / PREDICTIONS_FILE, iter([("big", "test", big), ("small", "test", small)]))
    store.write_text(str(tmp_path / RECORD_FILE), json.dumps(
        {"trial_id": "t", "seed": 1, "validation_corr": 0.5, "epochs": 1, "split": "x", "skip": 0}))
    member = MemberRecord(trial_id="t", seed=1, validation_corr=0.5, epochs=1, split="x", skip=0,
                          folder=str(tmp_path))
    tracemalloc.start()
    try:
        with member.stored_predictions() as read:
            np.testing.assert_array_equal(read("small", "test"), small)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < big.nbytes / 4, peak


MISTAKES = {
    "no such bucket": ({}, "s3://no-such-bucket/exp", "bucket 'no-such-bucket' does not exist at http://127.0.0.1:"),
    "wrong credentials": ({"AWS_SECRET_ACCESS_KEY": "wrong"}, "s3://tune/exp", "access denied; check the credentials"),
    "wrong endpoint": ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "s3://tune/exp",
                       "cannot reach the object store at http://127.0.0.1:9; check AWS_ENDPOINT_URL"),
    "not a storage": ({}, "nosuch://tune/exp", "expected a folder, s3://BUCKET/PATH or gs://BUCKET/PATH"),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_a_storage_mistake_is_one_line_naming_the_storage_before_anything_starts(case, s3_env, monkeypatch,
                                                                                 tmp_path):
    from search_builders import run_cli, tiny_space, write_space

    env, storage, message = MISTAKES[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "data").mkdir()
    # Never read past the storage check, so the data folder needs no session in it.
    config = write_space(tmp_path / "tiny.yaml", tiny_space(tmp_path / "data", tmp_path / "cache"))
    for argv in (["search", "launch", str(config)], ["search", "resume", "tiny"], ["search", "status", "tiny"],
                 ["promote", "tiny"]):
        rc, out, err = run_cli(*argv, "--storage", storage, "--runs-dir", str(tmp_path / "runs"))
        assert rc == 2, (argv, err)
        assert f"storage {storage}: " in err and message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
