#include "latte/data/instruct.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/read_file.h"

namespace latte::data {

namespace fs = std::filesystem;

namespace {

// A record of the fetched datasets: a labelled JSONL line, or a line of lm/*.txt (id = line).
struct SourceRecord {
  std::string id;
  std::string text;
  std::string label;
};

// The lines of a dataset file that `latte data fetch` writes.
LineReader open_dataset(const fs::path& path) {
  if (!fs::exists(path)) {
    throw FormatError(path.string() + " is missing: write the datasets with `latte data fetch --out " +
                      path.parent_path().parent_path().string() + "`");
  }
  return LineReader(ReadableFile::open(path, FileSource::kUser, "dataset file"));
}

std::vector<SourceRecord> read_labelled(const fs::path& path) {
  LineReader lines = open_dataset(path);
  std::vector<SourceRecord> records;
  std::string line;
  while (lines.next(line)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string origin = path.string() + ":" + std::to_string(lines.line_number());
    const nlohmann::json json = parse_json_bounded(line, origin, FileSource::kUser);
    if (!json.is_object() || !json.contains("text") || !json["text"].is_string() || !json.contains("label") ||
        !json["label"].is_string()) {
      throw FormatError(origin + ": expected {\"id\", \"text\", \"label\"} with string text and label");
    }
    const auto id = json.find("id");
    records.push_back({id != json.end() && id->is_string() ? id->get<std::string>() : origin,
                       json["text"].get<std::string>(), json["label"].get<std::string>()});
  }
  return records;
}

std::vector<SourceRecord> read_lines(const fs::path& path) {
  LineReader lines = open_dataset(path);
  std::vector<SourceRecord> records;
  std::string line;
  while (lines.next(line)) {
    if (line.empty()) continue;
    records.push_back({"line-" + std::to_string(lines.line_number()), line, ""});
  }
  return records;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::istringstream stream{std::string(text)};
  std::string word;
  while (stream >> word) words.push_back(word);
  return words;
}

// splitmix64: a generator whose output is fixed by its seed on every platform (std's
// distributions are not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t count) { return static_cast<size_t>(next() % count); }
  template <typename T>
  void shuffle(std::vector<T>& values) {
    for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[below(i)]);
  }

 private:
  uint64_t state_;
};

// An input and its answer, before a prompting style frames it.
struct Item {
  std::string id;
  std::string input;
  std::string answer;
  std::vector<std::string> options;  // fill: the answer and three other words, shuffled
};

// What a task asks, how its inputs are introduced, and its answers.
struct TaskFrame {
  const char* instruction;
  const char* input_name;   // "E-mail", "Passage", "Sentence"
  const char* answer_name;  // "Answer"
  std::vector<std::string> classes;
};

const char* split_file(Split split) { return split_name(split); }

// fill: a sentence of fill_min_words..fill_max_words words, one alphabetic word of four or more
// letters blanked out; the options are the answer and three answers of other sentences.
std::vector<Item> fill_items(const std::vector<SourceRecord>& lines, const InstructOptions& options,
                             uint64_t seed, int64_t limit) {
  std::vector<size_t> order(lines.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Random random(seed);
  random.shuffle(order);
  std::vector<Item> items;
  for (const size_t index : order) {
    if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) break;
    std::vector<std::string> words = split_words(lines[index].text);
    if (words.size() < options.fill_min_words || words.size() > options.fill_max_words) continue;
    std::vector<size_t> candidates;
    for (size_t w = 0; w < words.size(); ++w) {
      const std::string& word = words[w];
      if (word.size() >= 4 && std::all_of(word.begin(), word.end(), [](char c) {
            return std::isalpha(static_cast<unsigned char>(c)) != 0;
          }))
        candidates.push_back(w);
    }
    if (candidates.empty()) continue;
    const size_t blank = candidates[random.below(candidates.size())];
    Item item{lines[index].id, "", words[blank], {}};
    words[blank] = "___";
    for (size_t w = 0; w < words.size(); ++w) item.input += (w > 0 ? " " : "") + words[w];
    items.push_back(std::move(item));
  }
  // Options from the other answers of the same split: a model cannot tell the answer by its kind.
  std::set<std::string> answers;
  for (const Item& item : items) answers.insert(item.answer);
  const size_t option_count = std::min<size_t>(4, answers.size());
  for (size_t i = 0; i < items.size(); ++i) {
    std::set<std::string> chosen{items[i].answer};
    while (chosen.size() < option_count) chosen.insert(items[random.below(items.size())].answer);
    items[i].options.assign(chosen.begin(), chosen.end());
    random.shuffle(items[i].options);
  }
  return items;
}

std::vector<Item> labelled_items(const std::vector<SourceRecord>& records, int64_t limit,
                                 const InstructOptions& options) {
  std::vector<Item> items;
  for (const SourceRecord& record : records) {
    if (limit > 0 && static_cast<int64_t>(items.size()) >= limit) break;
    items.push_back(
        {record.id, first_words(record.text, options.max_input_words), answer_text(record.label), {}});
  }
  return items;
}

std::string join(const std::vector<std::string>& values, const char* separator) {
  std::string text;
  for (size_t i = 0; i < values.size(); ++i) text += (i > 0 ? separator : "") + values[i];
  return text;
}

// The prompt of `item` in `style`; `shots` are solved train items for fewshot.
std::string render(const TaskFrame& frame, const Item& item, std::string_view style,
                   const std::vector<const Item*>& shots, const InstructOptions& options) {
  std::string prompt = frame.instruction;
  if (style == "options") {
    const std::vector<std::string>& choices = frame.classes.empty() ? item.options : frame.classes;
    prompt += "\nOptions: " + join(choices, ", ") + ".";
  }
  prompt += "\n\n";
  if (style == "fewshot") {
    for (const Item* shot : shots) {
      prompt += std::string(frame.input_name) + ": " + first_words(shot->input, options.max_example_words) +
                "\n" + frame.answer_name + ": " + shot->answer + "\n\n";
    }
  }
  prompt += std::string(frame.input_name) + ": " + item.input + "\n" + frame.answer_name + ":";
  return prompt;
}

TaskFrame task_frame(std::string_view task, const std::vector<Item>& train) {
  if (task == "spam") return {"Is this e-mail spam or ham?", "E-mail", "Answer", {"spam", "ham"}};
  if (task == "genre") {
    std::set<std::string> genres;
    for (const Item& item : train) genres.insert(item.answer);
    return {"Which genre of the Brown corpus is this passage from?", "Passage", "Answer",
            std::vector<std::string>(genres.begin(), genres.end())};
  }
  return {"Fill in the blank with the missing word.", "Sentence", "Answer", {}};
}

// A task's items of one split (train items feed every split's fewshot prompts).
std::vector<Item> task_items(const fs::path& data_dir, std::string_view task, Split split,
                             const InstructOptions& options) {
  const int64_t limit = split == Split::kTrain ? options.max_train : options.max_eval;
  const std::string file = split_file(split);
  if (task == "spam")
    return labelled_items(read_labelled(data_dir / "spam" / (file + ".jsonl")), limit, options);
  if (task == "genre") {
    return labelled_items(read_labelled(data_dir / "brown-genre" / (file + ".jsonl")), limit, options);
  }
  return fill_items(read_lines(data_dir / "lm" / (file + ".txt")), options,
                    document_hash("fill", options.seed ^ static_cast<uint64_t>(split)), limit);
}

std::string example_line(const InstructExample& example) {
  nlohmann::ordered_json line = {{"id", example.id},
                                 {"task", example.task},
                                 {"style", example.style},
                                 {"source", example.source},
                                 {"target", example.target}};
  if (!example.options.empty()) line["options"] = example.options;
  if (!example.classes.empty()) line["classes"] = example.classes;
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string answer_text(std::string_view label) {
  std::string text(label);
  std::replace(text.begin(), text.end(), '_', ' ');
  return text;
}

std::string first_words(std::string_view text, size_t max_words) {
  std::vector<std::string> words = split_words(text);
  if (words.size() > max_words) words.resize(max_words);
  return join(words, " ");
}

std::vector<InstructExample> build_instruct_examples(const fs::path& data_dir, Split split,
                                                     const InstructOptions& options) {
  if (options.shots < 0 || options.shots > 16) throw InputError("shots must be 0 to 16");
  std::vector<InstructExample> examples;
  for (const char* task : kInstructTasks) {
    const std::vector<Item> train = task_items(data_dir, task, Split::kTrain, options);
    const std::vector<Item> items =
        split == Split::kTrain ? train : task_items(data_dir, task, split, options);
    const TaskFrame frame = task_frame(task, train);
    Random random(document_hash(task, options.seed ^ (0x1000u + static_cast<uint64_t>(split))));
    for (size_t i = 0; i < items.size(); ++i) {
      const Item& item = items[i];
      for (size_t s = 0; s < std::size(kInstructStyles); ++s) {
        // Train: one style per example, in turn; dev and test: every style.
        if (split == Split::kTrain && s != i % std::size(kInstructStyles)) continue;
        const std::string style = kInstructStyles[s];
        std::vector<const Item*> shots;
        if (style == "fewshot") {
          // As many as there are other train items (a tiny train split may hold fewer).
          const auto others = static_cast<size_t>(std::count_if(
              train.begin(), train.end(), [&](const Item& other) { return other.id != item.id; }));
          const size_t wanted = std::min(static_cast<size_t>(options.shots), others);
          while (shots.size() < wanted) {
            const Item* shot = &train[random.below(train.size())];
            if (shot->id != item.id && std::find(shots.begin(), shots.end(), shot) == shots.end())
              shots.push_back(shot);
          }
        }
        InstructExample example{
            item.id + "@" + style, task, style,        render(frame, item, style, shots, options),
            item.answer,           {},   frame.classes};
        if (style == "options") example.options = frame.classes.empty() ? item.options : frame.classes;
        examples.push_back(std::move(example));
      }
    }
  }
  return examples;
}

InstructCounts write_instruct_datasets(const fs::path& data_dir, const fs::path& out_dir,
                                       const InstructOptions& options, std::ostream* progress) {
  InstructCounts counts;
  // Every split is built before anything is written: a missing or malformed dataset leaves no
  // partial output.
  std::vector<std::vector<InstructExample>> splits;
  for (const Split split : kAllSplits) splits.push_back(build_instruct_examples(data_dir, split, options));
  fs::create_directories(out_dir);
  for (size_t s = 0; s < splits.size(); ++s) {
    const char* split = split_name(kAllSplits[s]);
    std::string contents;
    for (const InstructExample& example : splits[s]) {
      contents += example_line(example) + "\n";
      ++counts[split][example.task][example.style];
    }
    const fs::path file = out_dir / (std::string(split) + ".jsonl");
    write_file_atomic(file, contents);
    if (progress)
      *progress << "instruct: wrote " << splits[s].size() << " examples to " << file.string() << "\n";
  }
  std::ostringstream readme;
  readme
      << "# Instruction data\n\n"
      << "Written by `latte data instruct --data DIR --seed " << options.seed << " --shots " << options.shots
      << " --max-train " << options.max_train << " --max-eval " << options.max_eval
      << "` from the datasets `latte data fetch` wrote in DIR.\n\n"
      << "Each line: `{\"id\", \"task\", \"style\", \"source\", \"target\", \"options\"?, \"classes\"?}`.\n"
      << "Tasks: `spam` (spam or ham e-mail), `genre` (the Brown genre of a passage), `fill` (the word\n"
      << "blanked out of a sentence of lm/). Styles: `zero` (instruction and input), `options` (the answer\n"
      << "options listed too), `fewshot` (" << options.shots
      << " solved train examples before the input). Dev and test hold\n"
      << "every example in every style; train one style per example, in turn.\n\n"
      << "| split | task | zero | options | fewshot |\n|---|---|---:|---:|---:|\n";
  for (const Split split : kAllSplits) {
    for (const char* task : kInstructTasks) {
      auto& styles = counts[split_name(split)][task];
      readme << "| " << split_name(split) << " | " << task << " | " << styles["zero"] << " | "
             << styles["options"] << " | " << styles["fewshot"] << " |\n";
    }
  }
  write_file_atomic(out_dir / "README.md", readme.str());
  return counts;
}

InstructExample parse_instruct_line(std::string_view line, const std::string& origin) {
  const nlohmann::json json = parse_json_bounded(line, origin, FileSource::kUser);
  if (!json.is_object()) throw FormatError(origin + ": expected a JSON object");
  const auto text = [&](const char* key, const char* fallback) -> std::string {
    const auto found = json.find(key);
    if (found == json.end() || found->is_null()) {
      if (fallback != nullptr) return fallback;
      throw FormatError(origin + ": missing \"" + key + "\" (each line needs \"source\" and \"target\")");
    }
    if (!found->is_string()) throw FormatError(origin + ": \"" + key + "\" is not a string");
    return found->get<std::string>();
  };
  const auto list = [&](const char* key) {
    std::vector<std::string> values;
    const auto found = json.find(key);
    if (found == json.end() || found->is_null()) return values;
    if (!found->is_array()) throw FormatError(origin + ": \"" + key + "\" is not a list of strings");
    for (const nlohmann::json& value : *found) {
      if (!value.is_string()) throw FormatError(origin + ": \"" + key + "\" is not a list of strings");
      values.push_back(value.get<std::string>());
    }
    return values;
  };
  return {text("id", origin.c_str()), text("task", "all"), text("style", "-"), text("source", nullptr),
          text("target", nullptr),    list("options"),     list("classes")};
}

std::vector<InstructExample> read_instruct_examples(const fs::path& path, int64_t max_examples) {
  LineReader lines(ReadableFile::open(path, FileSource::kUser, "data file"));
  std::vector<InstructExample> examples;
  std::string line;
  while (lines.next(line)) {
    if (max_examples > 0 && static_cast<int64_t>(examples.size()) >= max_examples) break;
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    examples.push_back(parse_instruct_line(line, path.string() + ":" + std::to_string(lines.line_number())));
  }
  if (examples.empty()) throw InputError(path.string() + " holds no examples");
  return examples;
}

}  // namespace latte::data
