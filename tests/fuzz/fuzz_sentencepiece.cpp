// T5's SentencePiece tokenizer: the input is a spiece.model (a serialized SentencePiece
// ModelProto) loaded through SentencePieceTokenizer::from_model_bytes (latte's own reader and
// Unigram encoder); then a fixed text (sentinels, NFKC-relevant and unknown characters) is
// encoded alone and as a pair, and decoded. The seeds in corpus/sentencepiece are small models
// of each type (unigram, bpe, char, word) and one with custom normalisation rules, byte fallback
// and user-defined symbols, trained by spm_train on 300 lines of lm/test.txt.
#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/tokenizers/sentencepiece_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  static constexpr std::string_view kText =
      "Hello <extra_id_0> world,  caf\xC3\xA9 \xEF\xBC\xA1\xEF\xAC\x81 \xE6\x97\xA5\xE6\x9C\xAC "
      "\xF0\x9F\x98\x80 1234 </s> <sep>\t<extra_id_1>!";
  try {
    const SentencePieceTokenizer tokenizer =
        SentencePieceTokenizer::from_model_bytes(std::string(fuzz::as_view(data, size)), "spiece.model", 2);
    const Encoding encoding = tokenizer.encode(kText, 0);
    tokenizer.encode(kText, 8);
    tokenizer.encode_pair(kText, kText.substr(0, 20), 16);
    tokenizer.decode(encoding.ids);
    for (const int32_t id : encoding.ids) tokenizer.token(id);
  } catch (const Error&) {
  }
  return 0;
}
