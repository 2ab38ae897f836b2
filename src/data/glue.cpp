#include "latte/data/glue.h"

#include <algorithm>
#include <optional>

#include "latte/core/error.h"
#include "latte/io/read_file.h"

namespace latte::data {

namespace {

// Where a task keeps its texts and label, by header name.
struct GlueLayout {
  const char* text;
  const char* pair;   // null for single-sentence tasks
  const char* label;  // the label (or score) column
};

GlueLayout layout(GlueTask task) {
  switch (task) {
    case GlueTask::kCola:
      return {"sentence", nullptr, "label"};
    case GlueTask::kSst2:
      return {"sentence", nullptr, "label"};
    case GlueTask::kMrpc:
      return {"#1 String", "#2 String", "Quality"};
    case GlueTask::kStsb:
      return {"sentence1", "sentence2", "score"};
    case GlueTask::kQqp:
      return {"question1", "question2", "is_duplicate"};
    case GlueTask::kMnli:
      return {"sentence1", "sentence2", "gold_label"};
    case GlueTask::kQnli:
      return {"question", "sentence", "label"};
    case GlueTask::kRte:
    case GlueTask::kWnli:
      return {"sentence1", "sentence2", "label"};
  }
  return {"sentence", nullptr, "label"};
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string::npos ? tab : tab - start));
    if (tab == std::string::npos) return fields;
    start = tab + 1;
  }
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return result;
}

}  // namespace

GlueTask parse_glue_task(std::string_view name) {
  const std::string key = lower(name);
  if (key == "cola") return GlueTask::kCola;
  if (key == "sst-2" || key == "sst2") return GlueTask::kSst2;
  if (key == "mrpc") return GlueTask::kMrpc;
  if (key == "sts-b" || key == "stsb") return GlueTask::kStsb;
  if (key == "qqp") return GlueTask::kQqp;
  if (key == "mnli" || key == "mnli-m" || key == "mnli-mm" || key == "ax") return GlueTask::kMnli;
  if (key == "qnli") return GlueTask::kQnli;
  if (key == "rte") return GlueTask::kRte;
  if (key == "wnli") return GlueTask::kWnli;
  throw InputError("unknown GLUE task '" + std::string(name) +
                   "' (choose cola, sst-2, mrpc, sts-b, qqp, mnli, qnli, rte or wnli)");
}

const char* glue_task_name(GlueTask task) {
  switch (task) {
    case GlueTask::kCola:
      return "cola";
    case GlueTask::kSst2:
      return "sst-2";
    case GlueTask::kMrpc:
      return "mrpc";
    case GlueTask::kStsb:
      return "sts-b";
    case GlueTask::kQqp:
      return "qqp";
    case GlueTask::kMnli:
      return "mnli";
    case GlueTask::kQnli:
      return "qnli";
    case GlueTask::kRte:
      return "rte";
    case GlueTask::kWnli:
      return "wnli";
  }
  return "?";
}

bool glue_task_is_regression(GlueTask task) { return task == GlueTask::kStsb; }

void for_each_glue_example(const std::filesystem::path& path, GlueTask task,
                           const std::function<bool(LabeledExample&&)>& on_example) {
  LineReader file(ReadableFile::open(path, FileSource::kUser, "data file"));
  const GlueLayout names = layout(task);
  const std::string where = path.string() + ":";

  // Column indexes; CoLA's labelled files have no header and a fixed layout.
  size_t columns = 0;
  std::optional<size_t> text_column, pair_column, label_column;
  bool have_layout = false;

  std::string line;
  while (file.next(line)) {
    const size_t number = file.line_number();
    if (number == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string origin = where + std::to_string(number);
    std::vector<std::string> fields = split_tabs(line);

    if (!have_layout) {
      have_layout = true;
      if (task == GlueTask::kCola &&
          !(fields.size() == 2 && fields[0] == "index" && fields[1] == "sentence")) {
        columns = 4;
        text_column = 3;
        label_column = 1;  // no header: this line is data
      } else {
        columns = fields.size();
        const auto find = [&](const char* name) -> std::optional<size_t> {
          if (name == nullptr) return std::nullopt;
          // The last column of that name: MNLI's gold_label is its last column.
          for (size_t i = fields.size(); i-- > 0;) {
            if (fields[i] == name) return i;
          }
          return std::nullopt;
        };
        text_column = find(names.text);
        pair_column = find(names.pair);
        label_column = find(names.label);
        for (const char* needed : {names.text, names.pair}) {
          if (needed != nullptr && !find(needed)) {
            throw FormatError(origin + ": the header has no column \"" + std::string(needed) + "\" that " +
                              glue_task_name(task) + " needs (is this a " + glue_task_name(task) + " file?)");
          }
        }
        continue;
      }
    }

    if (fields.size() != columns) {
      throw FormatError(origin + ": expected " + std::to_string(columns) + " tab-separated columns, found " +
                        std::to_string(fields.size()));
    }
    LabeledExample example;
    example.origin = origin;
    example.text = fields[*text_column];
    if (pair_column) example.text_pair = fields[*pair_column];
    if (label_column) {
      const std::string& value = fields[*label_column];
      if (value.find_first_not_of(" \t") == std::string::npos) {
        throw FormatError(origin + ": empty " + std::string(names.label) + " in column " +
                          std::to_string(*label_column));
      }
      if (glue_task_is_regression(task)) {
        example.score = parse_number(value);
        if (!example.score) {
          throw FormatError(origin + ": " + std::string(names.label) + " '" + value + "' is not a number");
        }
      } else {
        example.label = value;
      }
    }
    if (!on_example(std::move(example))) return;
  }
}

std::vector<LabeledExample> read_glue_tsv(const std::filesystem::path& path, GlueTask task) {
  std::vector<LabeledExample> examples;
  for_each_glue_example(path, task, [&](LabeledExample&& example) {
    examples.push_back(std::move(example));
    return true;
  });
  return examples;
}

}  // namespace latte::data
