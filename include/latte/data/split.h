// Seeded train/dev/test splits by document: every passage of a document lands in
// the document's split, so no test text was seen in training.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace latte::data {

enum class Split { kTrain, kDev, kTest };
inline constexpr Split kAllSplits[] = {Split::kTrain, Split::kDev, Split::kTest};

// "train", "dev", "test".
const char* split_name(Split split);

struct SplitFractions {
  double dev = 0.1;
  double test = 0.1;  // train gets the rest: 80/10/10 by default
};

// The documented order key of a document: splitmix64(fnv1a64(id) ^ seed).
uint64_t document_hash(std::string_view document_id, uint64_t seed);

// Assigns each document to a split, stratum by stratum (strata[i] is document i's
// stratum, e.g. its label; an empty vector means one stratum). Within a stratum of n
// documents, sorted by (document_hash, id): the first round(test * n) go to test, the next
// round(dev * n) to dev, the rest to train; a stratum of 3 or more documents gives dev and
// test at least one each. The result depends only on the ids, strata and seed, never on
// the input order. InputError for duplicate ids or mismatched lengths.
std::vector<Split> split_by_document(const std::vector<std::string>& document_ids,
                                     const std::vector<std::string>& strata, uint64_t seed,
                                     SplitFractions fractions = {});

}  // namespace latte::data
