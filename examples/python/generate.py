"""Text generation with a decoder (GPT-2, Llama) or encoder-decoder (T5) folder: a whole
continuation, then the same prompt streamed piece by piece at a target speedup.

    PYTHONPATH=build/python python3 examples/python/generate.py MODEL_DIR "Once upon a time"

A random tiny GPT-2 to try it on: build/latte init --family gpt2 --preset tiny
--tokenizer tests/data/gpt2_tokenizer/small --out /tmp/gpt2
"""

import sys

import latte


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    model = latte.Model(sys.argv[1])
    prompt = sys.argv[2] if len(sys.argv) > 2 else "Once upon a time"

    result = model.generate(prompt, max_new_tokens=24)
    print(f"{model.family}, {model.num_layers} layers; dense: {result.text!r}")
    print(f"  ttft {result.ttft_ms:.2f} ms, {result.decode_ms_per_token:.2f} ms/token, "
          f"KV cache {result.kv_cache_bytes} bytes, stop: {result.stop_reason}")

    stream = model.generate(prompt, max_new_tokens=24, speedup=2, stream=True)
    print("speedup 2, streamed: ", end="", flush=True)
    for piece in stream:
        print(piece, end="", flush=True)
    done = stream.result
    print(f"\n  kept per layer {done.kept}, KV cache {done.kv_cache_bytes} of {done.kv_cache_bytes_dense} bytes")


if __name__ == "__main__":
    main()
