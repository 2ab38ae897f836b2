"""latte.Model on a tiny GPT-2: generation (plain and streamed) and perplexity equal to the CLI's."""

import json
import threading

import numpy as np
import pytest

import latte
from conftest import cli_json_lines, run_cli

PROMPT = "The quick brown fox jumps over the lazy dog and"


def test_describes_a_decoder(gpt2):
    assert gpt2.family == "gpt2"
    assert gpt2.kind == "decoder-only"
    assert gpt2.num_layers == gpt2.config["n_layer"]


@pytest.mark.parametrize("knob", [[], ["--speedup", "2"]])
def test_greedy_generation_equals_the_cli(gpt2, tiny_gpt2, knob):
    expected = cli_json_lines("generate", "--json", "--model", tiny_gpt2, "--max-new-tokens", "12", *knob, PROMPT)[0]
    kwargs = {"speedup": float(knob[1])} if knob else {}
    result = gpt2.generate(PROMPT, max_new_tokens=12, **kwargs)
    assert result.prompt_ids == expected["prompt_ids"]
    assert result.ids == expected["ids"]
    assert result.text == expected["text"]
    assert result.kept == expected["kept"]
    assert result.stop_reason == expected["stop_reason"]
    assert result.kv_cache_bytes == expected["kv_cache_bytes"]


def test_sampling_equals_the_cli(gpt2, tiny_gpt2):
    expected = cli_json_lines("generate", "--json", "--model", tiny_gpt2, "--max-new-tokens", "10", "--temperature",
                              "0.8", "--top-p", "0.9", "--seed", "7", PROMPT)[0]
    result = gpt2.generate(PROMPT, max_new_tokens=10, temperature=0.8, top_p=0.9, seed=7)
    assert result.ids == expected["ids"]


def test_token_ids_and_stop_strings(gpt2, tiny_gpt2):
    ids = gpt2.generate(PROMPT, max_new_tokens=1).prompt_ids
    assert gpt2.generate(ids, max_new_tokens=8).ids == gpt2.generate(PROMPT, max_new_tokens=8).ids
    full = gpt2.generate(PROMPT, max_new_tokens=16)
    stop = full.text[3:6]
    expected = cli_json_lines("generate", "--json", "--model", tiny_gpt2, "--max-new-tokens", "16", "--stop", stop,
                              PROMPT)[0]
    stopped = gpt2.generate(PROMPT, max_new_tokens=16, stop=stop)
    assert stopped.ids == expected["ids"] and stopped.text == expected["text"]
    assert stopped.stop_reason == "callback" and len(stopped.ids) < len(full.ids)


def test_streaming_gives_the_same_text(gpt2):
    whole = gpt2.generate(PROMPT, max_new_tokens=12)
    stream = gpt2.generate(PROMPT, max_new_tokens=12, stream=True)
    assert isinstance(stream, latte.GenerationStream)
    pieces = list(stream)
    assert len(pieces) > 1
    assert "".join(pieces) == whole.text
    assert stream.result.ids == whole.ids


def test_a_stream_dropped_early_ends_its_run(gpt2):
    stream = gpt2.generate(PROMPT, max_new_tokens=40, stream=True)
    next(stream)
    del stream  # the worker stops at its next token; the model is free again
    assert gpt2.generate(PROMPT, max_new_tokens=2).ids


def test_perplexity_equals_the_cli(gpt2, tiny_gpt2, tmp_path):
    texts = [f"Passage {i}: the quick brown fox jumps over the lazy dog, then rests in the sun." for i in range(12)]
    data = tmp_path / "lm.txt"
    data.write_text("\n".join(texts) + "\n")
    expected = cli_json_lines("eval", "--task", "lm", "--json", "--model", tiny_gpt2, "--data", data, "--prompt-len",
                              "16", "--continuation-len", "8", "--speedups", "1,2", "--latency-samples", "2")
    scores = gpt2.score(texts, prompt_len=16, continuation_len=8, speedups=[1, 2], latency_samples=2)
    assert [s["speedup"] for s in scores] == [1, 2]
    for score, line in zip(scores, expected):
        assert score["perplexity"] == pytest.approx(line["perplexity"], rel=1e-9)
        assert score["tokens"] == line["tokens"]
        assert score["kept_fraction"] == pytest.approx(line["kept_fraction"])


def test_decoder_errors(gpt2):
    with pytest.raises(latte.InputError, match="max_new_tokens"):
        gpt2.generate(PROMPT, max_new_tokens=0)
    with pytest.raises(latte.InputError, match="temperature"):
        gpt2.generate(PROMPT, temperature=0)
    with pytest.raises(latte.InputError, match="outside the vocabulary"):
        gpt2.generate([1, 10**6])
    with pytest.raises(latte.InputError, match="empty"):
        gpt2.generate([])
    with pytest.raises(latte.InputError, match="truncate=True"):
        gpt2.generate("word " * 2000)
    with pytest.raises(latte.InputError, match="classify needs an encoder"):
        gpt2.classify(["text"])


def test_threads_generate_concurrently(gpt2):
    expected = gpt2.generate(PROMPT, max_new_tokens=8).ids
    results = []

    def work():
        for _ in range(3):
            results.append(gpt2.generate(PROMPT, max_new_tokens=8).ids)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 12


def test_t5_generation_equals_the_cli(tmp_path):
    from conftest import DATA

    folder = tmp_path / "t5"
    run_cli("init", "--family", "t5", "--preset", "tiny", "--tokenizer", DATA / "t5_tokenizer", "--out", folder)
    model = latte.Model(folder)
    assert model.kind == "encoder-decoder"
    source = "translate English to German: the house is small"
    expected = cli_json_lines("generate", "--json", "--model", folder, "--max-new-tokens", "8", source)[0]
    result = model.generate(source, max_new_tokens=8)
    assert result.ids == expected["ids"]
    assert result.text == expected["text"]
    assert "".join(model.generate(source, max_new_tokens=8, stream=True)) == expected["text"]
