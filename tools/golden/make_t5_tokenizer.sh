#!/usr/bin/env bash
# Trains the small T5-style SentencePiece model of tests/data/t5_tokenizer/spiece.model and
# writes its goldens (t5_golden.jsonl, by make_t5_golden.py). No real T5 spiece.model is
# reachable from these machines, so this one is trained the way T5's was: a Unigram model,
# NMT-NFKC normalisation, no byte fallback, <pad> 0 / </s> 1 / <unk> 2 and no <s>.
#
#   tools/golden/make_t5_tokenizer.sh [DATA_DIR]     (default /work/data)
#
# DATA_DIR is what `build/latte data fetch --seed 42 --out DATA_DIR` writes; the model is
# trained on the first 20,000 lines of lm/train.txt (Brown passages, then nlp-corpus
# sentences), read in order with no sampling and one thread, so the same data gives the same file.
# Needs Debian's sentencepiece (spm_train) and python3-sentencepiece.
set -euo pipefail
data=${1:-/work/data}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/tests/data/t5_tokenizer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

head -n 20000 "$data/lm/train.txt" >"$work/train.txt"
# Relative names: the model records its input and prefix, so an absolute temp path would change it.
(cd "$work" && spm_train --input=train.txt --model_prefix=spiece --model_type=unigram \
  --vocab_size=2000 --character_coverage=0.9995 --normalization_rule_name=nmt_nfkc \
  --byte_fallback=false --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 \
  --input_sentence_size=0 --shuffle_input_sentence=false --num_threads=1 --random_seed=42 \
  --minloglevel=1)
cp "$work/spiece.model" "$out/spiece.model"
/usr/bin/python3 "$root/tools/golden/make_t5_golden.py" "$out/spiece.model" "$data" >"$out/t5_golden.jsonl"
# The same model as T5TokenizerFast's tokenizer.json; its goldens come from the tokenizers Node
# binding: (cd tools/golden && node make_t5_tokenizer_json_golden.js).
/usr/bin/python3 "$root/tools/golden/spiece_to_tokenizer_json.py" "$out/spiece.model" \
  >"$root/tests/data/t5_tokenizer_json/tokenizer.json"
echo "wrote $out/spiece.model ($(stat -c %s "$out/spiece.model") bytes) and $(wc -l <"$out/t5_golden.jsonl") goldens"
