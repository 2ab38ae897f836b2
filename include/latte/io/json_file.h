// JSON files (config.json, latte.json, tokenizer files): reading with errors that name the
// file, typed field access that names the file and field, and atomic writing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

namespace latte {

// FormatError "cannot read PATH: <reason>" (also for a FIFO, device or folder), "PATH: not valid
// JSON: <parser message>" or "PATH: JSON nested deeper than 64 levels".
nlohmann::json read_json_file(const std::filesystem::path& path);

// A nlohmann exception's message without its "[json.exception.parse_error.101] " prefix.
std::string json_error_text(const nlohmann::json::exception& error);

// Pretty-printed (indent 2) with a trailing newline, through AtomicFileWriter, so a reader never
// sees half a file. InputError if a string is not valid UTF-8; Error if the write fails.
void write_json_file_atomic(const std::filesystem::path& path, const nlohmann::json& value);

// Required fields: FormatError "LABEL: field 'KEY' is missing" when absent or null, or
// "LABEL: field 'KEY' must be <kind>, got <value or type>" when of the wrong type; also
// "LABEL: expected a JSON object" when `object` is not one. `file_label` is usually the file
// name ("config.json"). Integers must be JSON integers (768, not 768.0); doubles accept any
// finite number.
int64_t json_require_int(const nlohmann::json& object, const std::string& key, const std::string& file_label);
// As json_require_int, but also "... must be a positive integer" unless > 0.
int64_t json_require_positive_int(const nlohmann::json& object, const std::string& key,
                                  const std::string& file_label);
double json_require_double(const nlohmann::json& object, const std::string& key,
                           const std::string& file_label);
std::string json_require_string(const nlohmann::json& object, const std::string& key,
                                const std::string& file_label);
bool json_require_bool(const nlohmann::json& object, const std::string& key, const std::string& file_label);

// `value`, read from field `key`, when it is at most `limit`; else FormatError "FILE: field 'KEY'
// is V, above latte's limit of L" (the limits keep a crafted config away from size arithmetic).
int64_t json_at_most(int64_t value, const std::string& key, const std::string& file_label, int64_t limit);

// Optional fields: `fallback` when absent or null (Hugging Face writes null for unset values);
// present with the wrong type is the same FormatError as the required variant.
int64_t json_optional_int(const nlohmann::json& object, const std::string& key, const std::string& file_label,
                          int64_t fallback);
int64_t json_optional_positive_int(const nlohmann::json& object, const std::string& key,
                                   const std::string& file_label, int64_t fallback);
double json_optional_double(const nlohmann::json& object, const std::string& key,
                            const std::string& file_label, double fallback);
std::string json_optional_string(const nlohmann::json& object, const std::string& key,
                                 const std::string& file_label, const std::string& fallback);
bool json_optional_bool(const nlohmann::json& object, const std::string& key, const std::string& file_label,
                        bool fallback);

// A Hugging Face config's model class: the first name of its "architectures" list, which must
// be one of `supported`; nullopt when the field is absent or null. FormatError naming the file
// for a malformed list or an unsupported name.
std::optional<std::string> json_architecture(const nlohmann::json& config, const std::string& file_label,
                                             std::span<const char* const> supported);

}  // namespace latte
