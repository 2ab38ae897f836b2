#include "latte/data/split.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "latte/core/error.h"

namespace latte::data {

const char* split_name(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kDev:
      return "dev";
    case Split::kTest:
      return "test";
  }
  return "?";
}

uint64_t document_hash(std::string_view document_id, uint64_t seed) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
  for (const char byte : document_id) {
    hash ^= static_cast<unsigned char>(byte);
    hash *= 1099511628211ull;
  }
  uint64_t mixed = hash ^ seed;  // splitmix64 finalizer
  mixed += 0x9e3779b97f4a7c15ull;
  mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ull;
  mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebull;
  return mixed ^ (mixed >> 31);
}

std::vector<Split> split_by_document(const std::vector<std::string>& document_ids,
                                     const std::vector<std::string>& strata, uint64_t seed,
                                     SplitFractions fractions) {
  if (!strata.empty() && strata.size() != document_ids.size()) {
    throw InputError("split_by_document: " + std::to_string(strata.size()) + " strata for " +
                     std::to_string(document_ids.size()) + " documents");
  }
  if (fractions.dev < 0 || fractions.test < 0 || fractions.dev + fractions.test > 1) {
    throw InputError("split_by_document: dev and test fractions must be >= 0 and sum to at most 1");
  }
  std::set<std::string_view> seen;
  std::map<std::string_view, std::vector<size_t>> by_stratum;
  for (size_t i = 0; i < document_ids.size(); ++i) {
    if (!seen.insert(document_ids[i]).second) {
      throw InputError("split_by_document: duplicate document id '" + document_ids[i] + "'");
    }
    by_stratum[strata.empty() ? std::string_view() : std::string_view(strata[i])].push_back(i);
  }
  std::vector<Split> splits(document_ids.size(), Split::kTrain);
  for (auto& [stratum, members] : by_stratum) {
    std::vector<std::tuple<uint64_t, std::string_view, size_t>> order;
    for (const size_t i : members)
      order.emplace_back(document_hash(document_ids[i], seed), document_ids[i], i);
    std::sort(order.begin(), order.end());
    const size_t count = order.size();
    size_t test = static_cast<size_t>(std::llround(fractions.test * static_cast<double>(count)));
    size_t dev = static_cast<size_t>(std::llround(fractions.dev * static_cast<double>(count)));
    if (count >= 3) {
      test = std::max<size_t>(test, fractions.test > 0 ? 1 : 0);
      dev = std::max<size_t>(dev, fractions.dev > 0 ? 1 : 0);
    }
    test = std::min(test, count);
    dev = std::min(dev, count - test);
    for (size_t rank = 0; rank < count; ++rank) {
      splits[std::get<2>(order[rank])] = rank < test         ? Split::kTest
                                         : rank < test + dev ? Split::kDev
                                                             : Split::kTrain;
    }
  }
  return splits;
}

}  // namespace latte::data
