"""latte.Model on the bundled classifier: the CLI's answers, the knobs, errors, threads."""

import json
import threading

import numpy as np
import pytest

import latte
from conftest import cli_json_lines, run_cli

TEXTS = [
    "Win a FREE prize, click now",
    "Meeting moved to 3pm, see the agenda attached",
    "Cheap meds online!!! no prescription needed, order today and save big on every order",
]


def test_model_describes_itself(bundled):
    assert bundled.family == "bert"
    assert bundled.kind == "encoder"
    assert bundled.num_layers == 4
    assert bundled.config["num_hidden_layers"] == 4
    assert bundled.labels == ["ham", "spam"]
    assert (bundled.path / "config.json").is_file()


@pytest.mark.parametrize("knob", [[], ["--speedup", "2"], ["--keep", "12,8,6,4"], ["--coverage", "0.8"]])
def test_logits_equal_the_cli(bundled, knob):
    expected = cli_json_lines("classify", "--json", "--model", bundled.path, *knob, *TEXTS)
    kwargs = {}
    if knob:
        name = knob[0][2:]
        kwargs[name] = [int(x) for x in knob[1].split(",")] if name == "keep" else float(knob[1])
    logits = bundled.logits(TEXTS, **kwargs)
    assert logits.dtype == np.float32 and logits.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(logits, np.array([line["logits"] for line in expected]), rtol=0, atol=1e-6)
    results = bundled.classify(TEXTS, **kwargs)
    for result, line in zip(results, expected):
        assert result.label == line["label"]
        np.testing.assert_allclose(result.probabilities, line["probs"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(result.logits, line["logits"], rtol=0, atol=1e-6)
        assert result.score == pytest.approx(max(line["probs"]), abs=1e-6)
        if "kept" in line:
            assert result.kept == line["kept"]


def test_speedup_eliminates_word_vectors(bundled):
    long_text = " ".join(["the offer ends tonight so reply with your bank details"] * 8)
    dense = bundled.classify([long_text])[0]
    pruned = bundled.classify([long_text], speedup=3)[0]
    assert sum(pruned.kept) < sum(dense.kept)
    assert pruned.predicted_speedup is not None and pruned.predicted_speedup > 1.5
    assert pruned.predicted_ms is not None and pruned.predicted_ms > 0


def test_batches_give_the_same_logits(bundled):
    one_by_one = np.vstack([bundled.logits([text]) for text in TEXTS])
    np.testing.assert_allclose(bundled.logits(TEXTS, batch_size=2), one_by_one, rtol=0, atol=1e-5)


def test_text_pairs_equal_the_cli(bundled, tmp_path):
    pairs = [("Win a prize", "click now"), ("See you at lunch", "bring the slides")]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"text": a, "text_pair": b}) + "\n" for a, b in pairs))
    expected = cli_json_lines("classify", "--json", "--model", bundled.path, "--input", data)
    np.testing.assert_allclose(bundled.logits(pairs), [line["logits"] for line in expected], rtol=0, atol=1e-6)


def test_plan_matches_the_cli(bundled):
    expected = json.loads(run_cli("plan", "--json", "--model", bundled.path, "--keep", "64,32,16,8", "--seq", "128").stdout)
    plan = bundled.plan(128, keep=[64, 32, 16, 8])
    assert plan["kept"] == expected["kept"] == [64, 32, 16, 8]
    assert plan["mode"] == expected["mode"]
    assert plan["gflop"] == pytest.approx(expected["gflop"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"speedup": 0.5}, "speedup"),
        ({"coverage": 1.5}, "coverage"),
        ({"keep": [4, 3]}, "keep list"),
        ({"speedup": 2, "coverage": 0.5}, "only one"),
        ({"mode": "fast"}, "mode must be"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_length": 1}, "max_length"),
    ],
)
def test_bad_knobs_are_input_errors(bundled, kwargs, message):
    with pytest.raises(latte.InputError, match=message):
        bundled.classify(TEXTS, **kwargs)


def test_input_error_is_a_value_error(bundled):
    with pytest.raises(ValueError):
        bundled.classify(TEXTS, speedup=0)


def test_over_long_input_refused_without_truncation(bundled):
    with pytest.raises(latte.InputError, match=r"texts\[0\]"):
        bundled.classify(["word " * 400], truncate=False)
    with pytest.warns(UserWarning, match="truncated"):
        bundled.classify(["word " * 400])


def test_bad_types_are_type_errors(bundled):
    with pytest.raises(TypeError):
        bundled.classify("a bare string is not a list of texts")
    with pytest.raises(TypeError):
        bundled.classify([1, 2])
    with pytest.raises(TypeError):
        bundled.classify(TEXTS, speedup="fast")


def test_bad_paths(tmp_path):
    with pytest.raises(latte.InputError, match="missing"):
        latte.Model(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(latte.FormatError) as raised:
        latte.Model(tmp_path)
    assert isinstance(raised.value, OSError)
    with pytest.raises(latte.InputError, match="dtype"):
        latte.Model(dtype="f64")


def test_generate_needs_a_decoder(bundled):
    with pytest.raises(latte.InputError, match="generate needs a decoder"):
        bundled.generate("hello")


def test_threads_share_one_model(bundled):
    expected = bundled.logits(TEXTS)
    failures = []

    def work():
        for _ in range(10):
            got = bundled.logits(TEXTS)
            if not np.array_equal(got, expected):
                failures.append(got)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_no_leak_over_10000_calls(bundled):
    def rss_kb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    for _ in range(500):  # the allocator's and the model's workspace reach their steady size first
        bundled.classify(TEXTS[:1])
    before = rss_kb()
    for _ in range(10000):
        bundled.classify(TEXTS[:1])
    grown = rss_kb() - before
    # A leak of even one small object per call would grow by megabytes over 10,000 calls.
    assert grown < 2048, f"RSS grew by {grown} kB over 10,000 calls"


def test_tokenizer_matches_the_cli(bundled):
    tokenizer = latte.Tokenizer(bundled.path)
    expected = cli_json_lines("tokenize", "--json", "--model", bundled.path, TEXTS[0])[0]
    encoding = tokenizer.encode(TEXTS[0], max_length=128)
    assert encoding.ids == expected["ids"]
    assert encoding.tokens == expected["tokens"]
    assert [e.ids for e in tokenizer.encode_batch(TEXTS, max_length=128)][0] == expected["ids"]
    assert tokenizer.decode(encoding.ids) == "win a free prize, click now"
    assert tokenizer.kind == "wordpiece"
