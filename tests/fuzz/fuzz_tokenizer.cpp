// The WordPiece tokenizer: vocab.txt (selector bit 0 clear) or tokenizer.json (set) loaded
// through BertTokenizer::from_dir, then arbitrary bytes encoded alone and as a pair. Input: a
// selector byte, the file up to the first NUL, then the text to encode.
#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/tokenizers/bert_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  if (size == 0) return 0;
  const auto [file, text] = fuzz::split_at_nul(fuzz::as_view(data + 1, size - 1));
  fuzz::scratch().reset({{(data[0] & 1) ? "tokenizer.json" : "vocab.txt", file}});
  try {
    const BertTokenizer tokenizer = BertTokenizer::from_dir(fuzz::scratch().path());
    const std::string_view first = text.substr(0, text.size() / 2);
    const std::string_view second = text.substr(text.size() / 2);
    tokenizer.encode(text, 512);
    tokenizer.encode_pair(first, second, 64);
  } catch (const Error&) {
  }
  return 0;
}
