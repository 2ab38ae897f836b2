// Byte-level BPE (GPT-2 and Llama 3). Selector byte mod 4: 0 encodes the rest with the committed
// small GPT-2 vocabulary, which must round-trip valid UTF-8 through decode and Utf8Stream; 1
// loads the rest up to the first NUL as tokenizer.json (either shape: the seeds have both) and 2
// as merges.txt (with the small vocab.json), then encode what follows; 3 encodes the rest with
// the committed small Llama-3 tokenizer (BOS first, the rest round-trips) and as a chat turn of
// its template. Every input also goes through Utf8Stream in two chunkings, which must agree and
// give valid UTF-8.
#include <cstdlib>

#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/tokenizers/bert_tokenizer.h"
#include "latte/tokenizers/bpe_tokenizer.h"
#include "latte/tokenizers/chat.h"

namespace {

const latte::ByteLevelBpeTokenizer& small() {
  static const latte::ByteLevelBpeTokenizer tokenizer = latte::ByteLevelBpeTokenizer::from_files(
      LATTE_FUZZ_BPE_VOCAB_DIR "/vocab.json", LATTE_FUZZ_BPE_VOCAB_DIR "/merges.txt");
  return tokenizer;
}

const latte::ByteLevelBpeTokenizer& llama3() {
  static const latte::ByteLevelBpeTokenizer tokenizer =
      latte::ByteLevelBpeTokenizer::from_tokenizer_json(LATTE_FUZZ_LLAMA3_DIR "/tokenizer.json");
  return tokenizer;
}

void check(bool condition) {
  if (!condition) std::abort();
}

void check_stream(std::string_view bytes) {
  latte::Utf8Stream whole, bytewise;
  const std::string at_once = whole.push(bytes) + whole.finish();
  std::string one_by_one;
  for (const char byte : bytes) one_by_one += bytewise.push({&byte, 1});
  one_by_one += bytewise.finish();
  check(at_once == one_by_one);
  check(latte::find_invalid_utf8(at_once) == std::string_view::npos);
  if (latte::find_invalid_utf8(bytes) == std::string_view::npos) check(at_once == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  if (size == 0) return 0;
  const std::string_view input = fuzz::as_view(data + 1, size - 1);
  check_stream(input);
  try {
    switch (data[0] % 4) {
      case 0: {
        const Encoding encoding = small().encode(input, 0);
        check(encoding.ids.size() == encoding.tokens.size());
        // Only valid UTF-8 gets here (encode throws otherwise); the small vocabulary has every byte.
        check(small().decode(encoding.ids) == input);
        Utf8Stream stream;
        std::string streamed;
        for (const int32_t id : encoding.ids) streamed += stream.push(small().decode({&id, 1}));
        check(streamed + stream.finish() == input);
        const Encoding cut = small().encode(input, 3);
        check(cut.ids.size() == std::min<size_t>(3, encoding.ids.size()));
        break;
      }
      case 1:
      case 2: {
        const auto [file, text] = fuzz::split_at_nul(input);
        if (data[0] % 4 == 1) {
          fuzz::scratch().reset({{"tokenizer.json", file}});
          ByteLevelBpeTokenizer::from_dir(fuzz::scratch().path()).encode(text, 0);
        } else {
          fuzz::scratch().reset({{"merges.txt", file}});
          const ByteLevelBpeTokenizer tokenizer = ByteLevelBpeTokenizer::from_files(
              LATTE_FUZZ_BPE_VOCAB_DIR "/vocab.json", fuzz::scratch().path() / "merges.txt");
          const Encoding encoding = tokenizer.encode(text, 0);
          tokenizer.decode(encoding.ids);
        }
        break;
      }
      case 3: {
        const Encoding encoding = llama3().encode(input, 0);
        check(!encoding.ids.empty() && encoding.ids.front() == llama3().token_id("<|begin_of_text|>"));
        check(llama3().decode(std::span(encoding.ids).subspan(1)) == input);
        check(llama3().encode(input, 3).ids.size() == std::min<size_t>(3, encoding.ids.size()));
        static const ChatTemplate chat = ChatTemplate::from_dir(LATTE_FUZZ_LLAMA3_DIR);
        const std::string system(input.substr(0, input.size() / 2));
        const std::vector<int32_t> turn = chat.encode(llama3(), system, input.substr(input.size() / 2));
        check(llama3().decode(turn) == chat.render(system, input.substr(input.size() / 2)));
        break;
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
