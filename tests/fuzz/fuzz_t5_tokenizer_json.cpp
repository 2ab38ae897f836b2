// T5's tokenizer.json (T5TokenizerFast's file): the input is the file, loaded through
// SentencePieceTokenizer::from_dir (no spiece.model beside it), then a fixed text (added tokens,
// spaces, combining marks, NFKC-relevant and unknown characters) is encoded alone and as a pair,
// and decoded. The seeds in corpus/t5_tokenizer_json are the small SentencePiece seeds of
// corpus/sentencepiece (unigram, custom normalisation rules) converted by
// tools/golden/spiece_to_tokenizer_json.py with 3 sentinels, and one in the Hub's older layout
// with byte fallback.
#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/tokenizers/sentencepiece_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  static constexpr std::string_view kText =
      "Hello <extra_id_0> world,  cafe\xCC\x81 \xEF\xBC\xA1\xCC\x81\xEF\xAC\x81 \xE6\x97\xA5\xE6\x9C\xAC "
      "\xF0\x9F\x98\x80\xE2\x80\x8D\xF0\x9F\x98\x80 1234 </s>\r\n<pad>\t\xE2\x96\x81\xE2\x96\x81 "
      "<extra_id_1>!  ";
  fuzz::scratch().reset({{"tokenizer.json", fuzz::as_view(data, size)}});
  try {
    const SentencePieceTokenizer tokenizer = SentencePieceTokenizer::from_dir(fuzz::scratch().path());
    const Encoding encoding = tokenizer.encode(kText, 0);
    tokenizer.encode(kText, 8);
    tokenizer.encode_pair(kText, kText.substr(0, 20), 16);
    tokenizer.decode(encoding.ids);
    for (const int32_t id : encoding.ids) tokenizer.token(id);
  } catch (const Error&) {
  }
  return 0;
}
