#include "latte/generate/language_model.h"

#include "latte/core/error.h"
#include "latte/models/registry.h"

namespace latte {

LanguageModel LanguageModel::load(const std::filesystem::path& folder, Precision precision) {
  LanguageModel model;
  if (model_family(folder).kind == ModelKind::kSeq2SeqLm) {
    model.seq2seq_ = load_seq2seq_lm(folder, precision);
  } else {
    model.causal_ = load_causal_lm(folder, precision);
  }
  return model;
}

int64_t LanguageModel::vocab_size() const { return causal_ ? causal_->vocab_size() : seq2seq_->vocab_size(); }

ModelShape LanguageModel::shape() const { return causal_ ? causal_->shape() : seq2seq_->encoder_shape(); }

int64_t LanguageModel::longest_prompt(int64_t max_new_tokens, const std::string& setting) const {
  if (seq2seq_) {
    // The source and the target have limits of their own.
    if (max_new_tokens > seq2seq_->max_target_tokens()) {
      throw InputError(setting + " " + std::to_string(max_new_tokens) + " is above the " +
                       std::to_string(seq2seq_->max_target_tokens()) + " tokens the model's decoder takes");
    }
    return seq2seq_->max_source_tokens();
  }
  const int64_t longest = causal_->max_positions() - max_new_tokens;
  if (longest < 1) {
    throw InputError(setting + " " + std::to_string(max_new_tokens) +
                     " leaves no room for a prompt: the model takes at most " +
                     std::to_string(causal_->max_positions()) + " tokens");
  }
  return longest;
}

std::string LanguageModel::limit(int64_t max_new_tokens, const std::string& setting) const {
  if (seq2seq_) return "the model's encoder limit";
  return std::to_string(causal_->max_positions()) + " positions less " + setting + " " +
         std::to_string(max_new_tokens);
}

std::string LanguageModel::too_long(int64_t max_new_tokens) const {
  if (seq2seq_) return "the model's encoder takes at most " + std::to_string(seq2seq_->max_source_tokens());
  return "with " + std::to_string(max_new_tokens) + " new tokens the model (" +
         std::to_string(causal_->max_positions()) + " positions) takes at most " +
         std::to_string(causal_->max_positions() - max_new_tokens);
}

void LanguageModel::truncate(std::vector<int32_t>& prompt, int64_t longest) const {
  const auto kept = static_cast<std::ptrdiff_t>(longest);
  if (causal_) {
    prompt.erase(prompt.begin(), prompt.end() - kept);
  } else {
    prompt.erase(prompt.begin() + kept - 1, prompt.end() - 1);
  }
}

double LanguageModel::warm_up(const Planner* planner) const {
  return causal_ ? latte::warm_up(*causal_, planner) : latte::warm_up(*seq2seq_, planner);
}

GenerationResult LanguageModel::generate(std::span<const int32_t> prompt, const GenerationOptions& options,
                                         const std::function<bool(int32_t)>& on_token) const {
  return causal_ ? latte::generate(*causal_, prompt, options, on_token)
                 : latte::generate(*seq2seq_, prompt, options, on_token);
}

}  // namespace latte
