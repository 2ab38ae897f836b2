#!/usr/bin/python3
"""Goldens for latte's SentencePiece tokenizer (tests/data/t5_tokenizer/t5_golden.jsonl).

An independent implementation of Hugging Face T5Tokenizer's conventions (transformers 4.x,
legacy=True, the default for T5 checkpoints) over Debian's python3-sentencepiece:
  - `<extra_id_N>` sentinels (extra_ids = 100) take the ids above the model's pieces, the last
    id being <extra_id_0>; `</s>`, `<pad>`, `<unk>` and the sentinels written in text are single
    tokens (leftmost, longest match first), and the whitespace either side of a sentinel is
    stripped (HF's AddedToken(lstrip=True, rstrip=True)); every other stretch of text is
    encoded by SentencePiece on its own;
  - `</s>` is appended; a pair is `A </s> B </s>`; truncation to max_length keeps the final
    `</s>` (pairs: tokenizers' LongestFirst, as T5TokenizerFast);
  - decode(skip_special_tokens=True): special ids dropped, SentencePiece's decode, stripped.
Writes one JSON object per line: {"text", ["pair"], ["max_length"], "ids", "tokens", "decoded"}.

  make_t5_golden.py SPIECE_MODEL DATA_DIR > t5_golden.jsonl
"""
import json
import re
import sys

import sentencepiece

EXTRA_IDS = 100


class T5Conventions:
    def __init__(self, model_path):
        self.sp = sentencepiece.SentencePieceProcessor(model_file=model_path)
        self.pieces = self.sp.get_piece_size()
        self.eos = self.sp.piece_to_id("</s>")
        self.sentinels = {f"<extra_id_{n}>": self.pieces + EXTRA_IDS - 1 - n for n in range(EXTRA_IDS)}
        self.specials = {"</s>": self.eos, "<pad>": self.sp.piece_to_id("<pad>"),
                         "<unk>": self.sp.piece_to_id("<unk>"), **self.sentinels}
        alternatives = sorted(self.specials, key=len, reverse=True)  # longest first at a position
        self.pattern = re.compile("|".join(re.escape(token) for token in alternatives))

    def token(self, token_id):
        if token_id >= self.pieces:
            return next(name for name, i in self.sentinels.items() if i == token_id)
        return self.sp.id_to_piece(token_id)

    def text_ids(self, text):
        # HF's tokenize: cut at added tokens, strip around sentinels, encode each stretch.
        parts = []  # str for text, int for a special token's id
        position = 0
        for match in self.pattern.finditer(text):
            parts.append(text[position:match.start()])
            parts.append(match.group(0))
            position = match.end()
        parts.append(text[position:])
        for i, part in enumerate(parts):
            if i % 2 == 1 and part in self.sentinels:
                if i > 0:
                    parts[i - 1] = parts[i - 1].rstrip()
                if i + 1 < len(parts):
                    parts[i + 1] = parts[i + 1].lstrip()
        ids = []
        for i, part in enumerate(parts):
            if i % 2 == 1:
                ids.append(self.specials[part])
            elif part:
                ids.extend(self.sp.encode(part, out_type=int))
        return ids

    def encode(self, text, pair=None, max_length=None):
        first = self.text_ids(text)
        second = self.text_ids(pair) if pair is not None else None
        if max_length is not None:
            if second is None:
                first = first[:max_length - 1]
            else:
                budget = max_length - 2
                if len(first) + len(second) > budget:
                    # tokenizers' LongestFirst: the shorter keeps all if it fits in half.
                    n_short = min(len(first), len(second))
                    n_long = max(n_short, budget - n_short)
                    if n_short + n_long > budget:
                        n_short = budget // 2
                        n_long = n_short + budget % 2
                    first_longer = len(first) > len(second)
                    first = first[:n_long if first_longer else n_short]
                    second = second[:n_short if first_longer else n_long]
        ids = first + [self.eos]
        if second is not None:
            ids += second + [self.eos]
        return ids

    def decode(self, ids):
        special = set(self.specials.values())
        return self.sp.decode([i for i in ids if i not in special]).strip()


def corpus_lines(path, count, max_chars):
    lines = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            line = line.rstrip("\n")
            if line:
                lines.append(line[:max_chars])
            if len(lines) == count:
                break
    return lines


def main():
    model_path, data_dir = sys.argv[1], sys.argv[2]
    t5 = T5Conventions(model_path)
    texts = [
        "", " ", "   ", "\n", "\t\t", "Hello world", "Hello, world!", "  leading and trailing  ",
        "multiple    spaces   inside", "line one\nline two\n\nline four", "tabs\tbetween\twords",
        "3.14159 and 2,718 and 1e-9 and 100%", "Call 555-0123 at 9:30pm on 2026-12-05.",
        "\"Quoted\" (parenthesised) [bracketed] {braced} <angled>", "a--b...c!!!d???e;;;f",
        "café naïve résumé façade", "cafe\u0301 (decomposed accent)", "ＦＵＬＬ-ｗｉｄｔｈ ＡＢＣ１２３",
        "ﬁne ligature and ½ fraction and ℌ", "Ελληνικά και русский текст", "日本語のテキストと中文文本",
        "emoji 😀👍🏽 and ❤️", "zero\u200bwidth\u00a0nbsp\u3000ideographic space",
        "control\u0001chars\u007f", "NUL\u0000inside",
        "<extra_id_0>", "Hello <extra_id_0> world", "The <extra_id_0> walks in <extra_id_1> park.",
        "  <extra_id_99>  spaced  <extra_id_5>\n", "<extra_id_0><extra_id_1>", "<extra_id_100> is not a sentinel",
        "<extra_id_-1> <extra_id_> <extra_id_01>", "translate English to German: </s> end", "<pad> and <unk> written",
        "a</s>b", "</s></s>", "question: what is it? context: nothing </s>", "UPPER lower MiXeD",
        "don't won't it's they're I'm we've", "http://example.com/path?q=1&r=2#frag user@example.org",
        "#hashtag @mention $100 €50 £3 ¥7", "ab" * 40, "supercalifragilisticexpialidocious",
    ]
    texts += corpus_lines(f"{data_dir}/lm/test.txt", 30, 400)
    texts += [json.loads(line)["text"] for line in corpus_lines(f"{data_dir}/spam/test.jsonl", 8, 100000)]
    texts = [text[:600] for text in texts]
    cases = [{"text": text} for text in texts]
    long_text = texts[-20]
    cases += [{"text": long_text, "max_length": n} for n in (1, 2, 5, 16)]
    cases += [{"text": "Hello world", "max_length": 512}]
    cases += [{"text": "premise: a cat sat", "pair": "hypothesis: an animal sat"},
              {"text": "", "pair": ""}, {"text": "one <extra_id_0> two", "pair": "<extra_id_1> three"},
              {"text": long_text, "pair": "short one", "max_length": 12},
              {"text": "short one", "pair": long_text, "max_length": 12},
              {"text": long_text, "pair": texts[-21], "max_length": 9},
              {"text": long_text, "pair": texts[-21], "max_length": 2}]
    for case in cases:
        ids = t5.encode(case["text"], case.get("pair"), case.get("max_length"))
        case.update(ids=ids, tokens=[t5.token(i) for i in ids], decoded=t5.decode(ids))
        print(json.dumps(case, ensure_ascii=False))


if __name__ == "__main__":
    main()
