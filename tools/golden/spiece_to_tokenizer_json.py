#!/usr/bin/env python3
"""Writes the tokenizer.json Hugging Face's T5TokenizerFast saves for a T5 spiece.model.

  /usr/bin/python3 tools/golden/spiece_to_tokenizer_json.py SPIECE_MODEL [EXTRA_IDS] > tokenizer.json

No real T5 tokenizer.json is reachable from latte's machines, so this writes what
transformers' convert_slow_tokenizer.T5Converter (an SpmConverter) builds, and what
PreTrainedTokenizerFast then adds, as the Rust `tokenizers` serialises it:

- model: Unigram, vocab = [[piece, score], ...] of every piece, then <extra_id_{N-1}> ..
  <extra_id_0> with score 0.0 (T5Converter.vocab); unk_id = trainer_spec.unk_id; byte_fallback
  false (SpmConverter.handle_byte_fallback is False for T5).
- normalizer: Sequence[Precompiled(charsmap), Strip(right), Replace(Regex " {2,}" -> "▁")]
  (SpmConverter.normalizer; no Precompiled when the model has no charsmap).
- pre_tokenizer and decoder: Metaspace("▁", prepend_scheme "always", split true)
  (add_prefix_space True and legacy True, as T5 checkpoints load).
- post_processor: TemplateProcessing single "$A </s>", pair "$A </s> $B </s>".
- added_tokens: the control pieces (<pad>, </s>) from the converter (normalized false, special),
  then what PreTrainedTokenizerFast adds for the special tokens missing from the backend: <unk>
  and the sentinels, given as strings in additional_special_tokens, so AddedToken(special=True):
  no lstrip/rstrip, normalized false. Serialised sorted by id.

Pieces, scores and types come from Debian's python3-sentencepiece; the precompiled charsmap and
trainer_spec.unk_id from the ModelProto's wire format, read here (python3-sentencepiece ships
no sentencepiece_model_pb2 usable without python3-protobuf).
"""
import base64
import json
import struct
import sys

sys.path.insert(0, "/usr/lib/python3/dist-packages")  # Debian's python3-sentencepiece
import sentencepiece  # noqa: E402


def fields(data):
    """(number, wire_type, value) of each field of one protobuf message."""
    pos = 0

    def varint():
        nonlocal pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 1:
            yield number, wire, data[pos:pos + 8]
            pos += 8
        elif wire == 2:
            length = varint()
            yield number, wire, data[pos:pos + length]
            pos += length
        elif wire == 5:
            yield number, wire, data[pos:pos + 4]
            pos += 4
        else:
            raise ValueError(f"wire type {wire}")


def model_fields(path):
    data = open(path, "rb").read()
    charsmap = b""
    unk_id = 0  # TrainerSpec's default
    model_type = 1
    types = []  # ModelProto.SentencePiece.type of each piece (1 normal, 3 control, 4 user-defined, ...)
    for number, _, value in fields(data):
        if number == 1:
            types.append(next((v for n, _, v in fields(value) if n == 3), 1))
        if number == 2:  # trainer_spec
            for n, _, v in fields(value):
                if n == 40:
                    unk_id = v
                if n == 3:
                    model_type = v
        if number == 3:  # normalizer_spec
            for n, _, v in fields(value):
                if n == 2:
                    charsmap = v
    return charsmap, unk_id, model_type, types


def added_token(token_id, content, special=True):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def metaspace():
    return {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}


def convert(model_path, extra_ids):
    charsmap, unk_id, model_type, types = model_fields(model_path)
    if model_type != 1:
        sys.exit(f"{model_path}: not a Unigram model (model_type {model_type})")
    sp = sentencepiece.SentencePieceProcessor(model_file=model_path)
    if sp.unk_id() != unk_id:
        sys.exit(f"{model_path}: unk_id {unk_id} but sentencepiece says {sp.unk_id()}")
    n_pieces = sp.get_piece_size()
    vocab = [[sp.id_to_piece(i), float(sp.get_score(i))] for i in range(n_pieces)]
    vocab += [[f"<extra_id_{n}>", 0.0] for n in range(extra_ids - 1, -1, -1)]
    if len(types) != n_pieces:
        sys.exit(f"{model_path}: {len(types)} pieces in the proto, {n_pieces} by sentencepiece")
    # Control pieces (type 3, special) and user-defined ones (type 4, not special) are the
    # converter's added tokens; <unk> is added as a special token by PreTrainedTokenizerFast.
    added = [added_token(i, sp.id_to_piece(i), types[i] == 3) for i in range(n_pieces) if types[i] in (3, 4)]
    added.append(added_token(unk_id, sp.id_to_piece(unk_id)))
    for n in range(extra_ids):
        added.append(added_token(n_pieces + extra_ids - 1 - n, f"<extra_id_{n}>"))
    added.sort(key=lambda token: token["id"])
    eos = sp.piece_to_id("</s>")

    normalizers = [{"type": "Strip", "strip_left": False, "strip_right": True},
                   {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]
    if charsmap:
        normalizers.insert(0, {"type": "Precompiled",
                               "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")})

    def seq(name, type_id=0):
        return {"Sequence": {"id": name, "type_id": type_id}}

    def special(name, type_id=0):
        return {"SpecialToken": {"id": name, "type_id": type_id}}

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": metaspace(),
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [seq("A"), special("</s>")],
            "pair": [seq("A"), special("</s>"), seq("B"), special("</s>")],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [eos], "tokens": ["</s>"]}},
        },
        "decoder": metaspace(),
        "model": {"type": "Unigram", "unk_id": unk_id, "vocab": vocab, "byte_fallback": False},
    }


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    extra_ids = int(sys.argv[2]) if len(sys.argv) == 3 else 100
    tokenizer = convert(sys.argv[1], extra_ids)
    # As serde_json's to_string_pretty writes it (two-space indent, non-ASCII kept).
    sys.stdout.write(json.dumps(tokenizer, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
