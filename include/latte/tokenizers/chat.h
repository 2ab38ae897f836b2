// Chat prompts for decoder models: a model folder's chat template (tokenizer_config.json
// "chat_template") turned into the text and token ids of one conversation turn. latte does not
// run Jinja; it recognises the Llama 3 form and applies it as Hugging Face's
// apply_chat_template(messages, add_generation_prompt=True) renders it:
//   bos_token <|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>   (with a system text)
//   <|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>
//   <|start_header_id|>assistant<|end_header_id|>\n\n
// with {system} and {prompt} stripped of surrounding whitespace when the template pipes the
// content through `trim` (Llama 3's does). Templates that add more (Llama 3.1's "Cutting Knowledge
// Date" system preamble and tool calls) or another layout are refused, naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "latte/tokenizers/tokenizer.h"

namespace latte {

class ChatTemplate {
 public:
  // The template of model_dir/tokenizer_config.json. FormatError naming tokenizer_config.json
  // when the file or its chat_template is missing, when the template is not the Llama 3 form, or
  // when it writes bos_token and the file has none.
  static ChatTemplate from_dir(const std::filesystem::path& model_dir);
  // The same from the template text and bos_token; `source` names the file in errors.
  static ChatTemplate from_template(const std::string& chat_template,
                                    const std::optional<std::string>& bos_token, const std::string& source);

  // The conversation as text: an optional system message, one user message, and the header the
  // assistant's reply follows.
  std::string render(const std::optional<std::string>& system, std::string_view user) const;
  // Token ids of render(...), encoded as apply_chat_template does: no special tokens added around
  // the text (the BOS is in it). InputError when the tokenizer is not byte-level BPE or lacks the
  // template's special tokens.
  std::vector<int32_t> encode(const Tokenizer& tokenizer, const std::optional<std::string>& system,
                              std::string_view user) const;
  // The ids that end the assistant's turn (<|eot_id|>): generation stops at them as at the model's
  // eos ids. InputError when the tokenizer lacks <|eot_id|>.
  std::vector<int32_t> stop_ids(const Tokenizer& tokenizer) const;

 private:
  ChatTemplate() = default;

  std::string bos_token_;  // written first; empty when the template has no bos_token
  bool trim_ = false;      // message content stripped as Jinja's `trim` (Python's str.strip())
};

// text without the leading and trailing characters Python's str.isspace() accepts, as Jinja's
// `trim` filter strips them.
std::string_view strip_python_whitespace(std::string_view text);

}  // namespace latte
