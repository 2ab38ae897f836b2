#include "latte/tokenizers/chat.h"

#include <array>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "latte/io/read_file.h"
#include "latte/tokenizers/bpe_tokenizer.h"

namespace latte {
namespace {

using nlohmann::json;

constexpr std::string_view kStartHeader = "<|start_header_id|>";
constexpr std::string_view kEndHeader = "<|end_header_id|>";
constexpr std::string_view kEndOfTurn = "<|eot_id|>";

// What later Llama templates (3.1, 3.2) add that latte does not reproduce: a dated system
// preamble, tool definitions and the ipython role.
constexpr std::array<std::string_view, 4> kUnsupportedMarks = {"Cutting Knowledge Date", "date_string",
                                                               "tools", "ipython"};

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Python's str.isspace() for one code point.
bool python_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// The code point that starts at text[pos] and its length; a malformed byte stands for itself
// (it is not a space, which is all that matters here).
std::pair<char32_t, size_t> decode_at(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  const size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (pos + length > text.size()) return {lead, 1};
  char32_t cp = length == 1 ? lead : lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  return {cp, length};
}

// The text of a special-token field: a string or an object with "content", as Hugging Face writes.
std::optional<std::string> token_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  return std::nullopt;
}

int32_t require_token(const ByteLevelBpeTokenizer& tokenizer, std::string_view token) {
  const int32_t id = tokenizer.token_id(token);
  if (id < 0) {
    throw InputError("the chat template writes " + std::string(token) + " but " + tokenizer.source() +
                     " has no such token");
  }
  return id;
}

const ByteLevelBpeTokenizer& chat_tokenizer(const Tokenizer& tokenizer) {
  const auto* bpe = dynamic_cast<const ByteLevelBpeTokenizer*>(&tokenizer);
  if (bpe == nullptr) {
    throw InputError("chat prompts need a byte-level BPE tokenizer (Llama 3's); " + tokenizer.source() +
                     " is " + std::string(tokenizer.kind()));
  }
  return *bpe;
}

}  // namespace

std::string_view strip_python_whitespace(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    const auto [cp, length] = decode_at(text, begin);
    if (!python_space(cp)) break;
    begin += length;
  }
  size_t end = text.size();
  while (end > begin) {
    // Step back to the start of the last code point (continuation bytes are 10xxxxxx).
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    if (!python_space(decode_at(text, start).first)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

ChatTemplate ChatTemplate::from_dir(const std::filesystem::path& model_dir) {
  const std::filesystem::path config_file = model_dir / "tokenizer_config.json";
  const std::string source = config_file.string();
  if (!std::filesystem::exists(config_file)) {
    throw FormatError(source + " is missing: a chat needs the folder's chat_template");
  }
  const json config = read_json_file(config_file);
  const json chat_template = config.is_object() ? config.value("chat_template", json()) : json();
  if (chat_template.is_null())
    throw FormatError(source + " has no chat_template: this model has no chat format");
  if (!chat_template.is_string()) {
    // Some files list named templates ([{"name": "default", "template": ...}]); latte takes one text.
    throw FormatError(source + ": chat_template must be a string, got " + json_preview(chat_template));
  }
  const json bos = config.value("bos_token", json());
  return from_template(chat_template.get<std::string>(), token_text(bos), source);
}

ChatTemplate ChatTemplate::from_template(const std::string& chat_template,
                                         const std::optional<std::string>& bos_token,
                                         const std::string& source) {
  const std::string supported =
      " (latte applies Llama 3's form: <|start_header_id|>ROLE<|end_header_id|>\\n\\nTEXT<|eot_id|> per "
      "message, "
      "then the assistant header)";
  // The header ends in two line breaks: written as real ones in the JSON string or as Jinja escapes.
  const bool llama3 = contains(chat_template, kStartHeader) && contains(chat_template, kEndOfTurn) &&
                      (contains(chat_template, std::string(kEndHeader) + "\n\n") ||
                       contains(chat_template, std::string(kEndHeader) + "\\n\\n"));
  if (!llama3) throw FormatError(source + ": chat_template is not one latte can apply" + supported);
  for (const std::string_view mark : kUnsupportedMarks) {
    if (contains(chat_template, mark)) {
      throw FormatError(source + ": chat_template uses '" + std::string(mark) +
                        "' (Llama 3.1's system preamble or tool calls), which latte does not apply" +
                        supported);
    }
  }
  ChatTemplate result;
  if (contains(chat_template, "bos_token")) {
    if (!bos_token)
      throw FormatError(source + ": chat_template writes bos_token but the file has no bos_token");
    result.bos_token_ = *bos_token;
  }
  result.trim_ = contains(chat_template, "| trim") || contains(chat_template, "|trim");
  return result;
}

std::string ChatTemplate::render(const std::optional<std::string>& system, std::string_view user) const {
  std::string text = bos_token_;
  const auto message = [&](std::string_view role, std::string_view content) {
    text.append(kStartHeader).append(role).append(kEndHeader).append("\n\n");
    text.append(trim_ ? strip_python_whitespace(content) : content).append(kEndOfTurn);
  };
  if (system) message("system", *system);
  message("user", user);
  text.append(kStartHeader).append("assistant").append(kEndHeader).append("\n\n");
  return text;
}

std::vector<int32_t> ChatTemplate::encode(const Tokenizer& tokenizer,
                                          const std::optional<std::string>& system,
                                          std::string_view user) const {
  const ByteLevelBpeTokenizer& bpe = chat_tokenizer(tokenizer);
  // Without them the markers would be split into ordinary text pieces: a prompt the model never saw.
  for (const std::string_view token : {kStartHeader, kEndHeader, kEndOfTurn}) require_token(bpe, token);
  if (!bos_token_.empty()) require_token(bpe, bos_token_);
  return bpe.token_ids(render(system, user));
}

std::vector<int32_t> ChatTemplate::stop_ids(const Tokenizer& tokenizer) const {
  return {require_token(chat_tokenizer(tokenizer), kEndOfTurn)};
}

}  // namespace latte
