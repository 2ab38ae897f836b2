// A folder's generating model, whichever its kind (decoder-only or encoder-decoder), behind one
// interface: what `latte generate` and `latte serve` need of it. The front ends branch on the
// family's kind here, and nowhere else.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "latte/generate/generate.h"
#include "latte/models/causal_lm.h"
#include "latte/models/seq2seq_lm.h"

namespace latte {

class LanguageModel {
 public:
  // The folder's model (load_causal_lm or load_seq2seq_lm, by its family's kind).
  static LanguageModel load(const std::filesystem::path& folder, Precision precision);

  CausalLm* causal() const { return causal_.get(); }
  Seq2SeqLm* seq2seq() const { return seq2seq_.get(); }
  int64_t vocab_size() const;
  // What plans are made over: the prefill's layers, or the encoder's.
  ModelShape shape() const;

  // Tokens a prompt may have with max_new_tokens new ones. InputError naming `setting` (the flag
  // or field that set max_new_tokens) when it leaves no room for a prompt, or is above what an
  // encoder-decoder's decoder takes.
  int64_t longest_prompt(int64_t max_new_tokens, const std::string& setting) const;
  // Why a prompt may have at most longest_prompt tokens, for messages.
  std::string limit(int64_t max_new_tokens, const std::string& setting) const;
  // The rest of "the prompt has N tokens; ..." for a prompt above longest_prompt.
  std::string too_long(int64_t max_new_tokens) const;
  // Cuts `prompt` to `longest` tokens: a decoder continues the end of a prompt, so its end is kept;
  // an encoder reads a source that ends with </s>, so its start and its final token are kept.
  void truncate(std::vector<int32_t>& prompt, int64_t longest) const;

  double warm_up(const Planner* planner) const;
  GenerationResult generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                            const std::function<bool(int32_t)>& on_token) const;

 private:
  std::unique_ptr<CausalLm> causal_;
  std::unique_ptr<Seq2SeqLm> seq2seq_;
};

}  // namespace latte
