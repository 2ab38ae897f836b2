// The one reader of user data and input files: JSONL, CSV, TSV or plain text, with the fields
// that hold the text, the text pair and the label chosen by name. Everything that reads a data
// file a user brings (eval, sweep, classify, tokenize, calibrate, generate, train classify) reads
// it through RecordReader, so every command accepts the same files the same way.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "latte/data/examples.h"

namespace latte::data {

enum class RecordFormat { kJsonl, kCsv, kTsv, kText };

// "jsonl", "csv", "tsv", "text"; FieldError("format", ...) for another name.
RecordFormat parse_record_format(std::string_view name);
const char* record_format_name(RecordFormat format);
// By extension: .jsonl and .json -> JSONL, .csv, .tsv, .txt -> text; none for others.
std::optional<RecordFormat> format_from_extension(const std::filesystem::path& path);

// Which field (a JSONL key, a CSV or TSV header column) holds what; empty: the defaults, the
// first present of text, sentence, sentence1 (text), of text_pair, sentence2 (text_pair), and
// label. A named field must be present; of the defaults only a text is required.
struct FieldNames {
  std::string text;
  std::string text_pair;
  std::string label;
};

struct RecordOptions {
  std::optional<RecordFormat> format;  // none: by extension, else JSONL when the first non-blank
                                       // line starts with '{', else text
  FieldNames fields;
};

// One JSONL line: {"text": str, "text_pair"?: str|null, "label"?: str|number|null}, the keys as
// `fields` names them. A numeric label sets both score and label (integral values written
// without a decimal point: 1 -> "1"); a string label that parses as a number ("3.8") also sets
// score. Other keys are ignored. `origin` ("FILE:LINE") prefixes every error: bad JSON, a
// missing text (FieldError, as RecordReader's), a non-string text, a label of another type.
LabeledExample parse_labeled_json_line(const std::string& line, const std::string& origin,
                                       const FieldNames& fields = {});

// Records of a file (or standard input) one at a time, as LabeledExamples whose origin is
// "FILE:LINE" of the record's first line, or inputs given directly. Only what next() is asked
// for is read: memory is one record (at most kMaxLineBytes), not the file.
// - text: one text per line; lines end at \n, \r\n or a lone \r; blank lines are skipped.
// - JSONL: one object per line (see parse_labeled_json_line); blank lines are skipped.
// - CSV (RFC 4180: quoted fields with doubled quotes and line breaks, CRLF or LF) and TSV (the
//   same with tabs; a quote inside an unquoted TSV field is text): the first row is a header
//   naming the columns; every row has as many fields as the header; an empty label or text pair
//   cell means none.
// A label sets `label`, and `score` when it reads as a number. Errors name FILE:LINE; a missing
// field is a FieldError of "text field", "text_pair field" or "label field" that lists the
// fields the file has.
class RecordReader {
 public:
  // PATH '-' is standard input; `description` names the file in errors ("cannot open input file
  // PATH: ...").
  static RecordReader from_file(const std::string& path, const RecordOptions& options = {},
                                const std::string& description = "input file");
  static RecordReader from_inputs(std::vector<LabeledExample> inputs);

  RecordReader(RecordReader&& other) noexcept;
  RecordReader& operator=(RecordReader&& other) noexcept;
  ~RecordReader();

  // False when there are no more records.
  bool next(LabeledExample& record);

  // Reads a file's records through a source: implemented in records.cpp.
  class Source;

 private:
  RecordReader();

  std::unique_ptr<Source> source_;  // absent for inputs given directly
  std::vector<LabeledExample> given_;
  size_t next_given_ = 0;
};

// Every record of `path` in file order until on_record returns false (the rest is not read).
void for_each_record(const std::filesystem::path& path, const RecordOptions& options,
                     const std::function<bool(LabeledExample&&)>& on_record);
// All records of `path`.
std::vector<LabeledExample> read_records(const std::filesystem::path& path,
                                         const RecordOptions& options = {});

// Integer labels ("0", "1": how most Hugging Face datasets store classes) read through a model's
// id2label. When every labelled example's label is an integer and none is a name in `id2label`
// (and the names are not the default LABEL_k, which already read as their index), each label i
// becomes id2label[i]; the return value is then the notice naming the mapping used:
// "integer labels mapped through config.json's id2label (0 -> ham, 1 -> spam)". Otherwise
// nothing changes and nothing is returned. InputError names the first example whose integer is
// not an index of id2label.
std::optional<std::string> map_integer_labels(std::vector<LabeledExample>& examples,
                                              const std::vector<std::string>& id2label);

}  // namespace latte::data
