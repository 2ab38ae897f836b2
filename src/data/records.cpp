#include "latte/data/records.h"

#include <csv.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <exception>
#include <new>
#include <nlohmann/json.hpp>
#include <span>
#include <utility>

#include "latte/core/error.h"
#include "latte/io/read_file.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte::data {

namespace {

constexpr std::array<const char*, 3> kTextDefaults = {"text", "sentence", "sentence1"};
constexpr std::array<const char*, 2> kPairDefaults = {"text_pair", "sentence2"};
constexpr std::array<const char*, 1> kLabelDefaults = {"label"};

// A header has a name per column; beyond this many a file is not a dataset but an attack on memory.
constexpr size_t kMaxColumns = 10000;

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r\n") == std::string::npos; }

// A field name as errors show it: quoted, escaped, cut to about 40 characters.
std::string shown(const std::string& name) { return json_preview(nlohmann::json(name)); }

// "\"a\", \"b\", \"c\"": at most 20 names, then how many there are.
std::string name_list(const std::vector<std::string>& names) {
  constexpr size_t kShown = 20;
  std::string list;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) list += (i ? ", " : "") + shown(names[i]);
  if (names.size() > kShown) list += ", ... (" + std::to_string(names.size()) + " in all)";
  return names.empty() ? "none" : list;
}

// "\"text\", \"sentence\" or \"sentence1\"".
std::string alternatives(std::span<const char* const> names) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + shown(names[i]);
  }
  return text;
}

// Where one part of a record (text, text pair, label) is among the fields a file has (JSONL keys
// or CSV/TSV header columns): the name chosen, or else the first default present.
struct FieldRole {
  const char* setting;  // "text field": the FieldError's field
  std::span<const char* const> defaults;
  bool required;  // without a name chosen: must one of the defaults be present?
};
constexpr FieldRole kTextRole{"text field", kTextDefaults, true};
constexpr FieldRole kPairRole{"text_pair field", kPairDefaults, false};
constexpr FieldRole kLabelRole{"label field", kLabelDefaults, false};

// How find_field() names what a file has in its errors.
struct FieldPlace {
  const std::string& where;  // "FILE:LINE"
  const char* kind;          // "key" or "column"
  const char* listing;       // "its keys" or "the header row has"
  const char* hint;          // appended to the "is needed" error
};

std::optional<size_t> find_field(const std::vector<std::string>& present, const std::string& chosen,
                                 const FieldRole& role, const FieldPlace& place) {
  const auto index_of = [&](const std::string& name) -> std::optional<size_t> {
    const auto found = std::find(present.begin(), present.end(), name);
    if (found == present.end()) return std::nullopt;
    return static_cast<size_t>(found - present.begin());
  };
  if (!chosen.empty()) {
    if (const auto index = index_of(chosen)) return index;
    throw FieldError(role.setting, shown(chosen) + " is not a " + place.kind + " of " + place.where + " (" +
                                       place.listing + " " + name_list(present) + ")");
  }
  for (const char* name : role.defaults) {
    if (const auto index = index_of(name)) return index;
  }
  if (!role.required) return std::nullopt;
  throw FieldError(role.setting, std::string("is needed: ") + place.where + " has no " + place.kind + " " +
                                     alternatives(role.defaults) + " (" + place.listing + " " +
                                     name_list(present) + place.hint + ")");
}

// 1 -> "1", 0.5 -> "0.5": the label text of a JSON number.
std::string number_label(const nlohmann::json& value) {
  if (value.is_number_integer()) return value.dump();
  const double number = value.get<double>();
  if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 1e15) {
    return std::to_string(static_cast<long long>(number));
  }
  return value.dump();
}

// A label as written in a CSV or TSV cell, or a JSON string: its text, and its score when it
// reads as a number.
void set_label(LabeledExample& example, std::string label) {
  example.score = parse_number(label);
  example.label = std::move(label);
}

}  // namespace

RecordFormat parse_record_format(std::string_view name) {
  if (name == "jsonl") return RecordFormat::kJsonl;
  if (name == "csv") return RecordFormat::kCsv;
  if (name == "tsv") return RecordFormat::kTsv;
  if (name == "text") return RecordFormat::kText;
  throw FieldError("format", "must be jsonl, csv, tsv or text, got " + shown(std::string(name)));
}

const char* record_format_name(RecordFormat format) {
  switch (format) {
    case RecordFormat::kJsonl:
      return "jsonl";
    case RecordFormat::kCsv:
      return "csv";
    case RecordFormat::kTsv:
      return "tsv";
    case RecordFormat::kText:
      return "text";
  }
  return "?";
}

std::optional<RecordFormat> format_from_extension(const std::filesystem::path& path) {
  std::string extension = path.extension().string();
  for (char& c : extension) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (extension == ".jsonl" || extension == ".json") return RecordFormat::kJsonl;
  if (extension == ".csv") return RecordFormat::kCsv;
  if (extension == ".tsv") return RecordFormat::kTsv;
  if (extension == ".txt") return RecordFormat::kText;
  return std::nullopt;
}

LabeledExample parse_labeled_json_line(const std::string& line, const std::string& origin,
                                       const FieldNames& fields) {
  const nlohmann::json object = parse_json_bounded(line, origin, FileSource::kUser);
  if (!object.is_object()) throw InputError(origin + ": expected a JSON object with a \"text\" field");
  std::vector<std::string> keys;
  for (const auto& item : object.items()) keys.push_back(item.key());
  const FieldPlace place{origin, "key", "its keys:", ""};
  // The key holding a part of the record, if the line has one.
  const auto key_of = [&](const FieldRole& role, const std::string& chosen) -> std::optional<std::string> {
    const std::optional<size_t> index = find_field(keys, chosen, role, place);
    if (!index) return std::nullopt;
    return keys[*index];
  };

  LabeledExample example;
  example.origin = origin;
  const std::string text_key = *key_of(kTextRole, fields.text);
  const nlohmann::json& text = object.at(text_key);
  if (!text.is_string()) throw InputError(origin + ": field " + shown(text_key) + " is not a string");
  example.text = text.get<std::string>();
  if (const auto pair_key = key_of(kPairRole, fields.text_pair);
      pair_key && !object.at(*pair_key).is_null()) {
    const nlohmann::json& pair = object.at(*pair_key);
    if (!pair.is_string()) throw InputError(origin + ": field " + shown(*pair_key) + " is not a string");
    example.text_pair = pair.get<std::string>();
  }
  if (const auto label_key = key_of(kLabelRole, fields.label);
      label_key && !object.at(*label_key).is_null()) {
    const nlohmann::json& label = object.at(*label_key);
    if (label.is_string()) {
      set_label(example, label.get<std::string>());
    } else if (label.is_number()) {
      example.label = number_label(label);
      example.score = label.get<double>();
    } else {
      throw InputError(origin + ": field " + shown(*label_key) + " must be a string or a number");
    }
  }
  return example;
}

// Reads one file's records; RecordReader owns one.
class RecordReader::Source {
 public:
  virtual ~Source() = default;
  virtual bool next(LabeledExample& record) = 0;
};

namespace {

// Text or JSONL: one record per non-blank line.
class LineSource : public RecordReader::Source {
 public:
  LineSource(ReadableFile file, std::optional<RecordFormat> format, FieldNames fields)
      : lines_(std::move(file)), fields_(std::move(fields)) {
    if (format) jsonl_ = *format == RecordFormat::kJsonl;
  }

  bool next(LabeledExample& record) override {
    std::string line;
    while (lines_.next(line)) {
      if (is_blank(line)) continue;
      const std::string origin = lines_.name() + ":" + std::to_string(lines_.line_number());
      if (!jsonl_) {
        const size_t first = line.find_first_not_of(" \t");
        jsonl_ = first != std::string::npos && line[first] == '{';
      }
      record = *jsonl_ ? parse_labeled_json_line(line, origin, fields_)
                       : LabeledExample{.text = std::move(line), .origin = origin};
      return true;
    }
    return false;
  }

 private:
  LineReader lines_;
  FieldNames fields_;
  std::optional<bool> jsonl_;  // unknown until the first non-blank line when not given
};

// CSV or TSV through libcsv, fed one line at a time so that each row it completes is known to
// start on the line where its first non-blank byte was fed.
class CsvSource : public RecordReader::Source {
 public:
  CsvSource(ReadableFile file, RecordFormat format, FieldNames fields)
      : file_(std::move(file)),
        tsv_(format == RecordFormat::kTsv),
        fields_(std::move(fields)),
        buffer_(size_t{1} << 16, '\0') {
    // Strict CSV refuses a quote inside an unquoted field; TSV writers leave such quotes as text.
    const unsigned char options =
        static_cast<unsigned char>((tsv_ ? 0 : CSV_STRICT) | CSV_STRICT_FINI | CSV_APPEND_NULL);
    if (csv_init(&parser_, options) != 0) throw std::bad_alloc();
    if (tsv_) csv_set_delim(&parser_, CSV_TAB);
  }
  CsvSource(const CsvSource&) = delete;
  CsvSource& operator=(const CsvSource&) = delete;
  ~CsvSource() override { csv_free(&parser_); }

  bool next(LabeledExample& record) override {
    while (true) {
      while (rows_.empty()) {
        if (finished_) return false;
        feed_line();
      }
      Row row = std::move(rows_.front());
      rows_.pop_front();
      if (!header_) {
        set_header(std::move(row));
        continue;
      }
      record = to_example(std::move(row));
      return true;
    }
  }

 private:
  // One row as parsed: the header's names, or a data row's text, text pair and label cells
  // (other cells are only counted).
  struct Row {
    std::vector<std::string> cells;
    size_t count = 0;  // fields in the row
    size_t line = 0;   // where it starts
  };
  // The cells of a data row kept, in the order of the parts they hold.
  enum Part : size_t { kText, kPair, kLabel, kParts };

  const char* kind() const { return tsv_ ? "TSV" : "CSV"; }
  std::string at_line(size_t line) const { return file_.name() + ":" + std::to_string(line); }

  void feed_line() {
    if (position_ == end_) {
      end_ = file_.read(buffer_.data(), buffer_.size());
      position_ = 0;
      if (end_ == 0) {
        finish();
        return;
      }
    }
    const char* begin = buffer_.data() + position_;
    const size_t available = end_ - position_;
    size_t length = available;
    bool ends_line = false;
    if (pending_cr_ && *begin == '\n') {
      length = 1;  // the \n of a \r\n: still the line the \r ended
    } else {
      for (size_t i = 0; i < available; ++i) {
        if (begin[i] == '\n' || begin[i] == '\r') {
          length = i + 1;
          ends_line = true;
          break;
        }
      }
    }
    pending_cr_ = ends_line && begin[length - 1] == '\r';
    line_ = lines_done_ + 1;
    if (!row_open_ && has_content(begin, length)) open_row();
    if (row_open_) {
      row_bytes_ += length;
      if (row_bytes_ > kMaxLineBytes) {
        throw InputError(at_line(row_line_) + ": " + kind() + " record longer than " +
                         std::to_string(kMaxLineBytes) + " bytes (is a quote left open?)");
      }
    }
    const size_t parsed = csv_parse(&parser_, begin, length, on_field, on_row, this);
    rethrow_callback_error();
    if (parsed != length) {
      if (csv_error(&parser_) == CSV_ENOMEM || csv_error(&parser_) == CSV_ETOOBIG) throw std::bad_alloc();
      throw InputError(at_line(line_) + ": not valid " + kind() +
                       ": a quote inside an unquoted field, or text after a closing quote (a field "
                       "that holds quotes is quoted whole, each quote doubled: \"say \"\"hi\"\"\")");
    }
    position_ += length;
    if (ends_line) ++lines_done_;
  }

  void finish() {
    finished_ = true;
    const int status = csv_fini(&parser_, on_field, on_row, this);
    rethrow_callback_error();
    if (status != 0) {
      throw InputError(at_line(row_line_) + ": " + kind() +
                       " quoted field never closed (the file ends inside the quotes it opens)");
    }
  }

  // Whether bytes of a line begin a row: blank lines between rows are skipped by the parser.
  bool has_content(const char* bytes, size_t length) const {
    for (size_t i = 0; i < length; ++i) {
      const char c = bytes[i];
      if (c != '\n' && c != '\r' && c != ' ' && (tsv_ || c != '\t')) return true;
    }
    return false;
  }

  void open_row() {
    row_open_ = true;
    row_line_ = line_;
    row_bytes_ = 0;
  }

  // libcsv's callbacks run inside C code: they must not throw, so an error waits in `error_`.
  static void on_field(void* bytes, size_t length, void* self) {
    auto& source = *static_cast<CsvSource*>(self);
    try {
      source.add_field(length == 0 ? std::string() : std::string(static_cast<const char*>(bytes), length));
    } catch (...) {
      if (!source.error_) source.error_ = std::current_exception();
    }
  }
  static void on_row(int /*terminator*/, void* self) {
    auto& source = *static_cast<CsvSource*>(self);
    try {
      source.end_row();
    } catch (...) {
      if (!source.error_) source.error_ = std::current_exception();
    }
  }
  void rethrow_callback_error() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

  void add_field(std::string field) {
    if (!row_open_) open_row();
    const size_t index = row_.count++;
    if (!header_) {
      if (row_.cells.size() == kMaxColumns) {
        throw InputError(at_line(row_line_) + ": header row has more than " + std::to_string(kMaxColumns) +
                         " columns");
      }
      row_.cells.push_back(std::move(field));
      return;
    }
    for (size_t part = 0; part < kParts; ++part) {
      if (columns_[part] == index) row_.cells[part] = field;  // one column may hold two parts
    }
  }

  void end_row() {
    if (!row_open_) open_row();
    row_.line = row_line_;
    rows_.push_back(std::move(row_));
    row_ = Row{};
    if (header_) row_.cells.resize(kParts);  // a data row keeps the cells of its parts
    row_open_ = false;
  }

  void set_header(Row row) {
    header_line_ = row.line;
    std::vector<std::string>& names = row.cells;
    // Spreadsheets write a byte order mark before the first name.
    if (!names.empty() && names[0].starts_with("\xEF\xBB\xBF")) names[0].erase(0, 3);
    for (const std::string& name : names) {
      if (find_invalid_utf8(name) != std::string::npos)
        throw InputError(at_line(row.line) + ": invalid UTF-8 in the header row");
    }
    const std::string where = at_line(row.line);
    const FieldPlace place{where, "column", "the header row has",
                           "; CSV and TSV files start with a header row"};
    columns_[kText] = find_field(names, fields_.text, kTextRole, place);
    columns_[kPair] = find_field(names, fields_.text_pair, kPairRole, place);
    columns_[kLabel] = find_field(names, fields_.label, kLabelRole, place);
    column_names_ = std::move(names);
    header_ = true;
    // Rows are parsed one at a time: the next has not begun.
    row_.cells.assign(kParts, std::string());
  }

  LabeledExample to_example(Row row) const {
    const std::string origin = at_line(row.line);
    if (row.count != column_names_.size()) {
      throw InputError(origin + ": " + std::to_string(row.count) + (row.count == 1 ? " field" : " fields") +
                       ", but the header row (line " + std::to_string(header_line_) + ") has " +
                       std::to_string(column_names_.size()) + " columns");
    }
    for (size_t part = 0; part < kParts; ++part) {
      if (!columns_[part]) continue;
      const size_t bad = find_invalid_utf8(row.cells[part]);
      if (bad != std::string::npos) {
        throw InputError(origin + ": invalid UTF-8 in column " + shown(column_names_[*columns_[part]]) +
                         " at byte " + std::to_string(bad + 1));
      }
    }
    LabeledExample example;
    example.origin = origin;
    example.text = std::move(row.cells[kText]);
    if (columns_[kPair] && !row.cells[kPair].empty()) example.text_pair = std::move(row.cells[kPair]);
    if (columns_[kLabel] && !row.cells[kLabel].empty()) set_label(example, std::move(row.cells[kLabel]));
    return example;
  }

  ReadableFile file_;
  bool tsv_;
  FieldNames fields_;
  csv_parser parser_{};
  std::string buffer_;
  size_t position_ = 0, end_ = 0;
  bool finished_ = false;
  bool pending_cr_ = false;  // the last line fed ended with \r: a \n right after it belongs to it
  size_t lines_done_ = 0;    // lines fed whole
  size_t line_ = 0;          // the line being fed
  // The row being parsed.
  Row row_;
  bool row_open_ = false;
  size_t row_line_ = 0;
  size_t row_bytes_ = 0;
  std::deque<Row> rows_;  // parsed, not yet returned
  std::exception_ptr error_;
  // The header, once read.
  bool header_ = false;
  size_t header_line_ = 0;
  std::vector<std::string> column_names_;
  std::array<std::optional<size_t>, kParts> columns_;
};

}  // namespace

RecordReader::RecordReader() = default;
RecordReader::RecordReader(RecordReader&& other) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&& other) noexcept = default;
RecordReader::~RecordReader() = default;

RecordReader RecordReader::from_file(const std::string& path, const RecordOptions& options,
                                     const std::string& description) {
  ReadableFile file =
      path == "-" ? ReadableFile::standard_input() : ReadableFile::open(path, FileSource::kUser, description);
  std::optional<RecordFormat> format = options.format;
  if (!format && path != "-") format = format_from_extension(path);
  RecordReader reader;
  if (format == RecordFormat::kCsv || format == RecordFormat::kTsv) {
    reader.source_ = std::make_unique<CsvSource>(std::move(file), *format, options.fields);
  } else {
    reader.source_ = std::make_unique<LineSource>(std::move(file), format, options.fields);
  }
  return reader;
}

RecordReader RecordReader::from_inputs(std::vector<LabeledExample> inputs) {
  RecordReader reader;
  reader.given_ = std::move(inputs);
  return reader;
}

bool RecordReader::next(LabeledExample& record) {
  if (source_) return source_->next(record);
  if (next_given_ == given_.size()) return false;
  record = std::move(given_[next_given_++]);
  return true;
}

void for_each_record(const std::filesystem::path& path, const RecordOptions& options,
                     const std::function<bool(LabeledExample&&)>& on_record) {
  RecordReader reader = RecordReader::from_file(path.string(), options, "data file");
  for (LabeledExample record; reader.next(record);) {
    if (!on_record(std::move(record))) return;
  }
}

std::vector<LabeledExample> read_records(const std::filesystem::path& path, const RecordOptions& options) {
  std::vector<LabeledExample> records;
  for_each_record(path, options, [&](LabeledExample&& record) {
    records.push_back(std::move(record));
    return true;
  });
  return records;
}

std::optional<std::string> map_integer_labels(std::vector<LabeledExample>& examples,
                                              const std::vector<std::string>& id2label) {
  const auto integer_of = [](const std::string& label) -> std::optional<int64_t> {
    int64_t value = 0;
    const char* end = label.data() + label.size();
    const auto [stop, error] = std::from_chars(label.data(), end, value);
    if (label.empty() || error != std::errc() || stop != end) return std::nullopt;
    return value;
  };
  bool default_names = true;
  for (size_t k = 0; k < id2label.size(); ++k) default_names &= id2label[k] == "LABEL_" + std::to_string(k);
  if (id2label.empty() || default_names) return std::nullopt;
  bool any = false;
  for (const LabeledExample& example : examples) {
    if (!example.label) continue;
    if (!integer_of(*example.label)) return std::nullopt;
    if (std::find(id2label.begin(), id2label.end(), *example.label) != id2label.end()) return std::nullopt;
    any = true;
  }
  if (!any) return std::nullopt;
  for (LabeledExample& example : examples) {
    if (!example.label) continue;
    const int64_t index = *integer_of(*example.label);
    if (index < 0 || index >= static_cast<int64_t>(id2label.size())) {
      throw InputError(example.origin + ": integer label " + *example.label +
                       " is not a class of the model (" + "config.json's id2label has 0 to " +
                       std::to_string(id2label.size() - 1) + ")");
    }
    example.label = id2label[static_cast<size_t>(index)];
    example.score.reset();
  }
  std::string mapping;
  for (size_t k = 0; k < id2label.size(); ++k) {
    mapping += (k ? ", " : "") + std::to_string(k) + " -> " + id2label[k];
  }
  return "integer labels mapped through config.json's id2label (" + mapping + ")";
}

}  // namespace latte::data
