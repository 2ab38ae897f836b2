// How a text pair shares a token budget, shared by WordPiece and SentencePiece pairs.
#pragma once

#include <algorithm>
#include <cstddef>

namespace latte {

struct PairLengths {
  size_t first;
  size_t second;
};

// tokenizers' LongestFirst truncation of a pair of `first` and `second` tokens to `budget`: if
// the shorter fits in half, the longer takes the rest; else each gets half and the longer (the
// pair on a tie) the odd token. Lengths that already fit are returned as they are.
inline PairLengths longest_first(size_t first, size_t second, size_t budget) {
  if (first + second <= budget) return {first, second};
  size_t n_short = std::min(first, second);
  size_t n_long = n_short > budget ? n_short : std::max(n_short, budget - n_short);
  if (n_short + n_long > budget) {
    n_short = budget / 2;
    n_long = n_short + budget % 2;
  }
  const bool first_is_longer = first > second;
  return {std::min(first, first_is_longer ? n_long : n_short),
          std::min(second, first_is_longer ? n_short : n_long)};
}

}  // namespace latte
