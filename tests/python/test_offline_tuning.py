"""calibrate() and profile() write what the CLI's calibrate and profile write, on a copy of the
bundled model (the checkout's latte.json is never touched)."""

import shutil

import pytest

import latte
from conftest import run_cli

SAMPLES = [
    "Win a FREE prize, click now to claim your reward before it expires tonight",
    "The meeting moved to 3pm; the agenda and last week's notes are attached",
    "Cheap meds online, no prescription needed, order today and save on every order",
    "Can you review my patch to the build scripts before Friday?",
]


@pytest.fixture()
def model_copy(bundled, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(bundled.path, folder)
    return folder


def test_calibrate_writes_what_the_cli_writes(model_copy, tmp_path):
    texts = tmp_path / "samples.txt"
    texts.write_text("\n".join(SAMPLES) + "\n")
    run_cli("calibrate", "--model", model_copy, "--input", texts)
    by_cli = (model_copy / "latte.json").read_text()
    (model_copy / "latte.json").unlink()
    model = latte.Model(model_copy)
    report = model.calibrate(SAMPLES)
    assert report["samples"] == len(SAMPLES)
    assert len(report["layers"]) == model.num_layers
    assert (model_copy / "latte.json").read_text() == by_cli
    # The planner now uses the fresh calibration (static mode).
    assert model.plan(64, speedup=2)["mode"] == "static"


def test_calibrate_errors(model_copy):
    model = latte.Model(model_copy)
    with pytest.raises(latte.InputError, match="no inputs"):
        model.calibrate([])
    with pytest.raises(latte.InputError, match="max_length"):
        model.calibrate(SAMPLES, max_length=100000)


def test_profile_caches_a_table(bundled, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    report = bundled.profile(rounds=1)
    assert report["cache_file"].startswith(str(tmp_path / "cache"))
    assert report["validation"] and report["largest_error"] >= 0
    assert report["table"]["dense_forward"]
