// The record reader on CSV and TSV (libcsv fed line by line, header mapping, line numbers):
// the input's bytes are read as data.csv and as data.tsv with the default fields, and once more
// with fields chosen by name when the input holds a NUL (field names before it, one per line:
// text, text pair, label; the file after it).
#include <sstream>

#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/data/records.h"

namespace {

void read_all(const std::filesystem::path& path, const latte::data::RecordOptions& options) {
  try {
    latte::data::RecordReader reader = latte::data::RecordReader::from_file(path.string(), options);
    for (latte::data::LabeledExample record; reader.next(record);) {
    }
  } catch (const latte::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  const std::string_view bytes = fuzz::as_view(data, size);
  const auto [names, file] = fuzz::split_at_nul(bytes);
  fuzz::scratch().reset({{"data.csv", bytes}, {"data.tsv", bytes}, {"named.csv", file}});
  read_all(fuzz::scratch().path() / "data.csv", {});
  read_all(fuzz::scratch().path() / "data.tsv", {});
  if (file.size() < bytes.size()) {
    data::RecordOptions options;
    std::istringstream lines{std::string(names)};
    std::getline(lines, options.fields.text);
    std::getline(lines, options.fields.text_pair);
    std::getline(lines, options.fields.label);
    read_all(fuzz::scratch().path() / "named.csv", options);
  }
  return 0;
}
