#include "latte/io/json_file.h"

#include <cmath>
#include <limits>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/read_file.h"

namespace latte {

namespace {

// The field's value, or nullptr when absent or null. Throws when `object` is not an object.
const nlohmann::json* find_field(const nlohmann::json& object, const std::string& key,
                                 const std::string& file_label) {
  if (!object.is_object()) {
    throw FormatError(file_label + ": expected a JSON object, got " + std::string(object.type_name()));
  }
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return nullptr;
  return &*found;
}

const nlohmann::json& require_field(const nlohmann::json& object, const std::string& key,
                                    const std::string& file_label) {
  const nlohmann::json* value = find_field(object, key, file_label);
  if (value == nullptr) throw FormatError(file_label + ": field '" + key + "' is missing");
  return *value;
}

[[noreturn]] void wrong_type(const nlohmann::json& value, const std::string& key,
                             const std::string& file_label, const std::string& expected) {
  // Containers are named by type; a scalar is quoted, cut short (it may be a megabyte string).
  const std::string got = value.is_structured() ? std::string(value.type_name()) : json_preview(value);
  throw FormatError(file_label + ": field '" + key + "' must be " + expected + ", got " + got);
}

int64_t as_int(const nlohmann::json& value, const std::string& key, const std::string& file_label) {
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      wrong_type(value, key, file_label, "a 64-bit integer");
    }
    return static_cast<int64_t>(value.get<uint64_t>());
  }
  if (!value.is_number_integer()) wrong_type(value, key, file_label, "an integer");
  return value.get<int64_t>();
}

int64_t as_positive_int(const nlohmann::json& value, const std::string& key, const std::string& file_label) {
  const int64_t number = value.is_number_integer() ? as_int(value, key, file_label) : 0;
  if (number <= 0) wrong_type(value, key, file_label, "a positive integer");
  return number;
}

double as_double(const nlohmann::json& value, const std::string& key, const std::string& file_label) {
  if (!value.is_number() || !std::isfinite(value.get<double>()))
    wrong_type(value, key, file_label, "a number");
  return value.get<double>();
}

std::string as_string(const nlohmann::json& value, const std::string& key, const std::string& file_label) {
  if (!value.is_string()) wrong_type(value, key, file_label, "a string");
  return value.get<std::string>();
}

bool as_bool(const nlohmann::json& value, const std::string& key, const std::string& file_label) {
  if (!value.is_boolean()) wrong_type(value, key, file_label, "true or false");
  return value.get<bool>();
}

}  // namespace

std::string json_error_text(const nlohmann::json::exception& error) {
  const std::string message = error.what();
  if (message.starts_with("[json.exception.")) {
    const size_t end = message.find("] ");
    if (end != std::string::npos) return message.substr(end + 2);
  }
  return message;
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  return parse_json_bounded(read_file_bytes(path), path.string());
}

void write_json_file_atomic(const std::filesystem::path& path, const nlohmann::json& value) {
  std::string text;
  try {
    text = value.dump(2) + "\n";
  } catch (const nlohmann::json::type_error& type_error) {
    throw InputError("cannot write " + path.string() + ": " + json_error_text(type_error));
  }
  AtomicFileWriter writer(path);
  writer.write(text);
  writer.commit();
}

int64_t json_require_int(const nlohmann::json& object, const std::string& key,
                         const std::string& file_label) {
  return as_int(require_field(object, key, file_label), key, file_label);
}

int64_t json_require_positive_int(const nlohmann::json& object, const std::string& key,
                                  const std::string& file_label) {
  return as_positive_int(require_field(object, key, file_label), key, file_label);
}

double json_require_double(const nlohmann::json& object, const std::string& key,
                           const std::string& file_label) {
  return as_double(require_field(object, key, file_label), key, file_label);
}

std::string json_require_string(const nlohmann::json& object, const std::string& key,
                                const std::string& file_label) {
  return as_string(require_field(object, key, file_label), key, file_label);
}

bool json_require_bool(const nlohmann::json& object, const std::string& key, const std::string& file_label) {
  return as_bool(require_field(object, key, file_label), key, file_label);
}

int64_t json_optional_int(const nlohmann::json& object, const std::string& key, const std::string& file_label,
                          int64_t fallback) {
  const nlohmann::json* value = find_field(object, key, file_label);
  return value == nullptr ? fallback : as_int(*value, key, file_label);
}

int64_t json_at_most(int64_t value, const std::string& key, const std::string& file_label, int64_t limit) {
  if (value > limit) {
    throw FormatError(file_label + ": field '" + key + "' is " + std::to_string(value) +
                      ", above latte's limit of " + std::to_string(limit));
  }
  return value;
}

int64_t json_optional_positive_int(const nlohmann::json& object, const std::string& key,
                                   const std::string& file_label, int64_t fallback) {
  const nlohmann::json* value = find_field(object, key, file_label);
  return value == nullptr ? fallback : as_positive_int(*value, key, file_label);
}

double json_optional_double(const nlohmann::json& object, const std::string& key,
                            const std::string& file_label, double fallback) {
  const nlohmann::json* value = find_field(object, key, file_label);
  return value == nullptr ? fallback : as_double(*value, key, file_label);
}

std::string json_optional_string(const nlohmann::json& object, const std::string& key,
                                 const std::string& file_label, const std::string& fallback) {
  const nlohmann::json* value = find_field(object, key, file_label);
  return value == nullptr ? fallback : as_string(*value, key, file_label);
}

bool json_optional_bool(const nlohmann::json& object, const std::string& key, const std::string& file_label,
                        bool fallback) {
  const nlohmann::json* value = find_field(object, key, file_label);
  return value == nullptr ? fallback : as_bool(*value, key, file_label);
}

std::optional<std::string> json_architecture(const nlohmann::json& config, const std::string& file_label,
                                             std::span<const char* const> supported) {
  if (!config.contains("architectures") || config["architectures"].is_null()) return std::nullopt;
  const nlohmann::json& architectures = config["architectures"];
  if (!architectures.is_array() || architectures.empty() || !architectures[0].is_string()) {
    throw FormatError(file_label + ": field 'architectures' must be a non-empty list of names");
  }
  const std::string name = architectures[0].get<std::string>();
  std::string listed;
  for (const char* known : supported) {
    if (name == known) return name;
    listed += (listed.empty() ? "" : ", ") + std::string(known);
  }
  throw FormatError(file_label + ": unknown architecture '" + name + "' (supported: " + listed + ")");
}

}  // namespace latte
