#include "latte/data/examples.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"

namespace latte::data {

namespace {

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r\n") == std::string::npos; }

// 1 -> "1", 0.5 -> "0.5": the label text of a JSON number.
std::string number_label(const nlohmann::json& value) {
  if (value.is_number_integer()) return value.dump();
  const double number = value.get<double>();
  if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 1e15) {
    return std::to_string(static_cast<long long>(number));
  }
  return value.dump();
}

}  // namespace

std::optional<double> parse_number(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(begin, &end);
  if (end == begin || errno == ERANGE || !std::isfinite(value)) return std::nullopt;
  while (*end == ' ' || *end == '\t') ++end;
  if (*end != '\0') return std::nullopt;
  return value;
}

LabeledExample parse_labeled_json_line(const std::string& line, const std::string& origin) {
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& error) {  // parse_error, or out_of_range for 1e400
    throw InputError(origin + ": not valid JSON (" + std::string(error.what()) + ")");
  }
  if (!object.is_object()) throw InputError(origin + ": expected a JSON object with a \"text\" field");
  LabeledExample example;
  example.origin = origin;
  if (!object.contains("text") || !object["text"].is_string()) {
    throw InputError(origin + ": field \"text\" is missing or not a string");
  }
  example.text = object["text"].get<std::string>();
  if (object.contains("text_pair") && !object["text_pair"].is_null()) {
    if (!object["text_pair"].is_string()) throw InputError(origin + ": field \"text_pair\" is not a string");
    example.text_pair = object["text_pair"].get<std::string>();
  }
  if (object.contains("label") && !object["label"].is_null()) {
    const nlohmann::json& label = object["label"];
    if (label.is_string()) {
      example.label = label.get<std::string>();
      example.score = parse_number(*example.label);
    } else if (label.is_number()) {
      example.label = number_label(label);
      example.score = label.get<double>();
    } else {
      throw InputError(origin + ": field \"label\" must be a string or a number");
    }
  }
  return example;
}

std::vector<LabeledExample> read_labeled_jsonl(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path))
    throw InputError("data " + path.string() + " is a folder, not a file");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw InputError("cannot open data file " + path.string());
  std::vector<LabeledExample> examples;
  std::string line;
  for (size_t number = 1; std::getline(file, line); ++number) {
    if (is_blank(line)) continue;
    examples.push_back(parse_labeled_json_line(line, path.string() + ":" + std::to_string(number)));
  }
  if (file.bad()) throw InputError("error reading " + path.string());
  return examples;
}

}  // namespace latte::data
