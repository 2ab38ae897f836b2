#include "latte/data/examples.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/io/read_file.h"

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
  const nlohmann::json object = parse_json_bounded(line, origin, FileSource::kUser);
  if (!object.is_object()) throw InputError(origin + ": expected a JSON object with a \"text\" field");
  LabeledExample example;
  example.origin = origin;
  if (!object.contains("text") || !object.at("text").is_string()) {
    throw InputError(origin + ": field \"text\" is missing or not a string");
  }
  example.text = object.at("text").get<std::string>();
  if (object.contains("text_pair") && !object.at("text_pair").is_null()) {
    if (!object.at("text_pair").is_string())
      throw InputError(origin + ": field \"text_pair\" is not a string");
    example.text_pair = object.at("text_pair").get<std::string>();
  }
  if (object.contains("label") && !object.at("label").is_null()) {
    const nlohmann::json& label = object.at("label");
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

void for_each_labeled_jsonl(const std::filesystem::path& path,
                            const std::function<bool(LabeledExample&&)>& on_example) {
  LineReader lines(ReadableFile::open(path, FileSource::kUser, "data file"));
  for (std::string line; lines.next(line);) {
    if (is_blank(line)) continue;
    if (!on_example(parse_labeled_json_line(line, path.string() + ":" + std::to_string(lines.line_number()))))
      return;
  }
}

std::vector<LabeledExample> read_labeled_jsonl(const std::filesystem::path& path) {
  std::vector<LabeledExample> examples;
  for_each_labeled_jsonl(path, [&](LabeledExample&& example) {
    examples.push_back(std::move(example));
    return true;
  });
  return examples;
}

InputReader InputReader::from_file(const std::string& path) {
  InputReader reader;
  reader.lines_.emplace(path == "-" ? ReadableFile::standard_input()
                                    : ReadableFile::open(path, FileSource::kUser, "input file"));
  return reader;
}

InputReader InputReader::from_inputs(std::vector<LabeledExample> inputs) {
  InputReader reader;
  reader.given_ = std::move(inputs);
  return reader;
}

bool InputReader::next(LabeledExample& input) {
  if (!lines_) {
    if (next_given_ == given_.size()) return false;
    input = std::move(given_[next_given_++]);
    return true;
  }
  std::string line;
  while (lines_->next(line)) {
    if (is_blank(line)) continue;
    const std::string origin = lines_->name() + ":" + std::to_string(lines_->line_number());
    if (!jsonl_) {
      const size_t first = line.find_first_not_of(" \t");
      jsonl_ = first != std::string::npos && line[first] == '{';
    }
    input = *jsonl_ ? parse_labeled_json_line(line, origin) : LabeledExample{.text = line, .origin = origin};
    return true;
  }
  return false;
}

}  // namespace latte::data
