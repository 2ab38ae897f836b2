#include "latte/generate/prompt_run.h"

#include <algorithm>
#include <optional>

#include "latte/core/error.h"

namespace latte {

PromptResult run_prompt(const LanguageModel& model, const Tokenizer* tokenizer, std::vector<int32_t> prompt,
                        const std::string& origin, const PromptOptions& options,
                        const OnPromptToken& on_token) {
  if (prompt.empty()) throw InputError(origin + ": the prompt is empty (no tokens)");
  PromptResult run;
  const int64_t max_new_tokens = options.generation.max_new_tokens;
  if (static_cast<int64_t>(prompt.size()) > options.longest_prompt) {
    if (!options.truncate) {
      throw InputError(origin + ": the prompt has " + std::to_string(prompt.size()) + " tokens; " +
                       model.too_long(max_new_tokens) +
                       (options.truncate_hint.empty() ? "" : " " + options.truncate_hint));
    }
    run.truncated = true;
    model.truncate(prompt, options.longest_prompt);
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= model.vocab_size()) {
      throw InputError(origin + ": token id " + std::to_string(prompt[i]) + " at position " +
                       std::to_string(i) + " is outside the vocabulary of " +
                       std::to_string(model.vocab_size()));
    }
  }
  std::optional<TokenTextStream> stream;
  if (tokenizer) stream.emplace(*tokenizer);
  bool end_of_turn = false;
  const auto on_id = [&](int32_t id) {
    const auto& ends = options.end_of_turn_ids;
    if (std::find(ends.begin(), ends.end(), id) != ends.end()) {
      end_of_turn = true;  // kept in ids, as an eos token is, but not in the text
      return false;
    }
    std::string piece;
    if (stream) {
      piece = stream->push(id);
      run.text += piece;
    }
    if (on_token && !on_token(id, piece)) return false;
    for (const std::string& stop : options.stop) {
      if (!stop.empty() && run.text.find(stop) != std::string::npos) return false;
    }
    return true;
  };
  run.generation = model.generate(prompt, options.generation, on_id);
  if (stream) {
    const std::string rest = stream->finish();
    run.text += rest;
    if (on_token && !rest.empty()) on_token(-1, rest);
  }
  run.stop_reason = end_of_turn ? "eos" : run.generation.stop_reason;
  run.prompt = std::move(prompt);
  return run;
}

}  // namespace latte
