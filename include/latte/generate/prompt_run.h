// One prompt through a LanguageModel as a front end runs it (latte generate, the Python module):
// the prompt checked and cut when allowed, the continuation decoded as it comes
// (TokenTextStream), and ended by stop strings or end-of-turn tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "latte/generate/language_model.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

struct PromptOptions {
  GenerationOptions generation;
  int64_t longest_prompt = 0;     // LanguageModel::longest_prompt of generation.max_new_tokens
  bool truncate = false;          // cut a longer prompt (LanguageModel::truncate), else InputError
  std::string truncate_hint;      // ends the too-long error: how to allow the cut ("(or use --truncate)")
  std::vector<std::string> stop;  // end once the continuation's text contains one
  std::vector<int32_t> end_of_turn_ids;  // end at one of these (kept in ids, not in the text)
};

struct PromptResult {
  std::vector<int32_t> prompt;  // as run: cut when it was too long and truncate was set
  bool truncated = false;
  GenerationResult generation;
  std::string text;  // the continuation's text (empty without a tokenizer)
  std::string
      stop_reason;  // "eos" (an end-of-turn token too), "length" or "callback" (a stop string, on_token)
};

// Each new token and the text it adds (empty without a tokenizer, or while a character is
// incomplete); returning false ends the run. After the last token, text still held back (an
// incomplete character, made U+FFFD) comes with id -1.
using OnPromptToken = std::function<bool(int32_t id, const std::string& piece)>;

// Runs `prompt` through `model`, decoding with `tokenizer` when not null. InputError starting with
// `origin` for an empty prompt, a token id outside the vocabulary or, without truncate, a prompt
// longer than longest_prompt.
PromptResult run_prompt(const LanguageModel& model, const Tokenizer* tokenizer, std::vector<int32_t> prompt,
                        const std::string& origin, const PromptOptions& options,
                        const OnPromptToken& on_token = {});

}  // namespace latte
