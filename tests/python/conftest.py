"""Fixtures of the Python module's tests: the CLI (the reference answers), the bundled model and a
tiny GPT-2 with a real byte-level BPE tokenizer, written by `latte init` as the C++ tests do."""

import json
import os
import subprocess
from pathlib import Path

import pytest

CLI = os.environ.get("LATTE_CLI", "")
DATA = Path(os.environ.get("LATTE_TEST_DATA_DIR", Path(__file__).resolve().parents[1] / "data"))


def run_cli(*args, check=True):
    """Runs the latte CLI; returns the completed process (text)."""
    if not CLI:
        pytest.skip("LATTE_CLI is not set (ctest sets it)")
    done = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"latte {' '.join(map(str, args))} failed: {done.stderr}")
    return done


def cli_json_lines(*args):
    return [json.loads(line) for line in run_cli(*args).stdout.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def bundled():
    import latte

    return latte.Model()


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2") / "model"
    run_cli("init", "--family", "gpt2", "--preset", "tiny", "--tokenizer", DATA / "gpt2_tokenizer" / "small",
            "--out", folder)
    return folder


@pytest.fixture(scope="session")
def gpt2(tiny_gpt2):
    import latte

    return latte.Model(tiny_gpt2)
