#!/usr/bin/env python3
"""latte's SentencePiece Unigram encoder against Debian's python3-sentencepiece, line by line.

  tools/golden/t5_tokenizer_sweep.py LATTE MODEL_DIR [CORPUS]

Encodes every 4th of the first 40,000 lines of CORPUS (default: lm/train.txt from
`latte data fetch`) plus 6,000 random strings drawn from Latin, Greek, Cyrillic, punctuation,
CJK, full-width, ligature and emoji code points with `latte tokenize --json` on MODEL_DIR, and with
sentencepiece.SentencePieceProcessor on MODEL_DIR/spiece.model; prints the lines whose ids
differ (latte's minus the </s> T5 appends) and exits 1 if any do. '<' is replaced by '(' so that
no text spells a special token, which latte (as Hugging Face) matches whole and SentencePiece
does not.
"""
import json
import random
import subprocess
import sys
import tempfile
import unicodedata

sys.path.insert(0, "/usr/lib/python3/dist-packages")  # Debian's python3-sentencepiece
import sentencepiece  # noqa: E402

MAX_LENGTH = 512


def texts(corpus):
    with open(corpus, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for _, line in zip(range(40000), f)][::4]
    blocks = [(0x20, 0x250), (0x370, 0x3FF), (0x400, 0x4FF), (0x2000, 0x206F), (0x3000, 0x30FF),
              (0xFF00, 0xFFEF), (0xFB00, 0xFB4F)]
    pool = [chr(c) for lo, hi in blocks for c in range(lo, hi)]
    pool += [chr(c) for c in (0x1F600, 0x1F680, 0x10400, 0xA0, 0x1680, 0x202F, 0x9, 0xD)]
    pool = [c for c in pool if unicodedata.category(c) != "Cs" and c not in "<\n\r\x85\u2028\u2029"]
    rng = random.Random(3)
    lines += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 30))) for _ in range(6000)]
    # One line per text for `latte tokenize --format text`: no line breaks of any kind inside.
    return [line.replace("<", "(").replace("\r", " ") for line in lines]


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    latte, model_dir = sys.argv[1], sys.argv[2]
    corpus = sys.argv[3] if len(sys.argv) == 4 else "lm/train.txt"
    lines = texts(corpus)
    processor = sentencepiece.SentencePieceProcessor(model_file=f"{model_dir}/spiece.model")
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        out = subprocess.run([latte, "tokenize", "--model", model_dir, "--input", f.name, "--format", "text",
                              "--json", "--max-length", str(MAX_LENGTH)],
                             check=True, capture_output=True, text=True).stdout
    got = [json.loads(line)["ids"] for line in out.splitlines()]
    if len(got) != len(lines):
        sys.exit(f"latte tokenize printed {len(got)} lines for {len(lines)} texts")
    compared = differ = 0
    for text, ids in zip(lines, got):
        expected = processor.encode(text)
        if len(expected) >= MAX_LENGTH:
            continue  # latte cut it to MAX_LENGTH
        compared += 1
        if expected + [processor.eos_id()] != ids:
            differ += 1
            if differ <= 10:
                print(f"{text!r}\n  sentencepiece {expected}\n  latte         {ids}")
    print(f"{compared} texts compared, {differ} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
