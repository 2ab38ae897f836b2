// The one tokenizer interface every model family codes against: BERT's WordPiece
// (bert_tokenizer.h) and GPT-2's byte-level BPE (bpe_tokenizer.h) implement it, and
// load_tokenizer picks the right one from a model folder's files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace latte {

struct Encoding {
  std::vector<int32_t> ids;         // WordPiece: with [CLS] ... [SEP] (... [SEP]) specials
  std::vector<int32_t> type_ids;    // 0 for first segment incl. its [CLS]/[SEP], 1 for the pair segment
  std::vector<std::string> tokens;  // token strings, same length as ids
  bool truncated = false;           // tokens of the text were dropped to fit max_length
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The model's default encoding of text, as Hugging Face's encode(text) with
  // add_special_tokens=True. WordPiece: [CLS] text [SEP], truncated to max_length tokens
  // including the specials (max_length >= 2). Byte-level BPE: the special tokens its
  // tokenizer.json's TemplateProcessing puts around the text (Llama 3's newer files:
  // <|begin_of_text|> first), none for GPT-2 or a ByteLevel post-processor; max_length 0 means
  // no limit, else the text is cut so that the whole has max_length tokens. Special tokens
  // written in the text match verbatim either way. InputError on invalid UTF-8 (naming the byte
  // offset) or a bad max_length.
  virtual Encoding encode(std::string_view text, int64_t max_length) const = 0;
  // Text of ids. Byte-level BPE: the exact bytes, which may end inside a UTF-8 sequence (feed
  // them through Utf8Stream when streaming). WordPiece: tokens joined by spaces with "##" pieces
  // glued on and special tokens skipped, like Hugging Face's decode(skip_special_tokens=True).
  // InputError for an id out of range.
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  // Tokens, added tokens included.
  virtual size_t vocab_size() const = 0;
  // The file the vocabulary came from (tokenizer.json, vocab.txt, vocab.json), for messages.
  virtual const std::string& source() const = 0;
  // GPT-2's <|endoftext|>; nullopt for a tokenizer without one (BERT).
  virtual std::optional<int32_t> end_of_text_id() const = 0;
  // Throws InputError for an id out of range.
  virtual const std::string& token(int32_t id) const = 0;
  // Whether id is a special token: one Hugging Face's decode(skip_special_tokens=True) drops
  // (BERT's [CLS] [SEP] ...; GPT-2's <|endoftext|>; Llama 3's <|begin_of_text|>, <|eot_id|>, the
  // reserved ones). InputError for an id out of range.
  virtual bool is_special(int32_t id) const = 0;
  // "wordpiece", "byte-level-bpe" or "sentencepiece".
  virtual std::string_view kind() const = 0;

 protected:
  // tokens[id], or InputError "token id ID is out of range [0, N)".
  static const std::string& token_at(const std::vector<std::string>& tokens, int32_t id);

  Tokenizer() = default;
  Tokenizer(const Tokenizer&) = default;
  Tokenizer& operator=(const Tokenizer&) = default;
};

// The tokenizer of a model folder, chosen by its files: spiece.model (SentencePiece, T5's; read
// before a tokenizer.json beside it); tokenizer.json by its model.type (WordPiece, byte-level BPE
// with GPT-2's or Llama 3's pre-tokenizer, or T5's Unigram); else vocab.json +
// merges.txt (byte-level BPE); else vocab.txt (WordPiece). FormatError naming the file for anything
// else.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& model_dir);

// The model's encoding of one input: encode(text), or for a text pair BERT's
// [CLS] text [SEP] text_pair [SEP] (a WordPiece tokenizer's encode_pair; T5's text </s> text_pair
// </s> for SentencePiece; InputError for byte-level BPE), truncated to max_length tokens. Errors start with
// `origin` ("FILE:LINE").
Encoding encode_input(const Tokenizer& tokenizer, std::string_view text,
                      const std::optional<std::string>& text_pair, int64_t max_length,
                      const std::string& origin);

// What a run does with inputs longer than it takes, and how many it cut: callers report the count
// once per run rather than cutting in silence.
struct Truncation {
  int64_t max_length = 0;  // tokens, specials included; 0: the model's (byte-level BPE alone: no limit)
  bool refuse = false;     // an over-long input is an InputError instead of being cut
  size_t inputs = 0;       // inputs encoded so far
  size_t truncated = 0;    // of them, how many were cut to max_length
};

// encode_input with `truncation`'s limit, counting into it; with `refuse`, an over-long input is
// an InputError naming its origin and its full length in tokens.
Encoding encode_input(const Tokenizer& tokenizer, std::string_view text,
                      const std::optional<std::string>& text_pair, Truncation& truncation,
                      const std::string& origin);

// A tokenizer belongs to a model whose embedding has vocab_size rows when its ids fit (no more
// tokens than rows) and it is not much smaller: Hugging Face pads embeddings a little (to a
// multiple of 8 or 64), so up to 10 % of the rows may be padding; a smaller tokenizer is another
// model's, and would tokenize silently into the wrong rows. FormatError names the tokenizer
// file, config_file and both sizes.
void check_tokenizer_fits(const Tokenizer& tokenizer, int64_t vocab_size,
                          const std::filesystem::path& config_file);

// The ids the tokenizer has a token for, in order. A model may have more rows than its
// tokenizer has tokens (T5 pads 32,100 tokens to 32,128 rows); a generated id of such a padding
// row carries no text, and Hugging Face's fast tokenizers skip it when decoding.
std::vector<int32_t> ids_with_tokens(const Tokenizer& tokenizer, std::span<const int32_t> ids);

// Turns a stream of bytes (tokens decoded one at a time) into valid UTF-8 text as it comes: a
// character split across pushes is held back until it is complete. Invalid bytes become U+FFFD,
// one per maximal invalid subsequence, as Python's errors='replace' and Rust's from_utf8_lossy
// do; so the pushes and finish() together give the same text however the bytes were split.
class Utf8Stream {
 public:
  // The longest complete UTF-8 prefix of what is held, an incomplete trailing sequence kept.
  std::string push(std::string_view bytes);
  // What is left, an incomplete sequence replaced by U+FFFD; the stream is empty afterwards.
  std::string finish();

 private:
  std::string pending_;  // at most 3 bytes: the start of a sequence that may yet complete
};

// Text of generated ids as they come: each push returns what the new token adds to the decode of
// the tokens before it (a few of them as context), so the pushes and finish() give decode(all
// ids) as valid UTF-8 (through Utf8Stream), whatever the tokenizer's decode does with a token
// alone: SentencePiece strips the space a piece starts with, which between words belongs to the
// text. A token whose decode rewrites the context's (not one latte's tokenizers make) is held
// back, with those after it, until the decode agrees again. An id the tokenizer has no token for
// (a model's padding row) adds nothing (see ids_with_tokens).
class TokenTextStream {
 public:
  explicit TokenTextStream(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  std::string push(int32_t id);
  // What is left; the stream is empty afterwards.
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  std::vector<int32_t> ids_;   // the last tokens: context, then any held back
  std::vector<bool> visible_;  // [ids_.size()]: the token alone decodes to some text
  size_t n_context_ = 0;       // of ids_, those whose text was returned
  Utf8Stream utf8_;
};

}  // namespace latte
