// Cutting raw text at a tokenizer's added (special) tokens, shared by WordPiece and BPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace latte {

// Cuts text at the added tokens as Hugging Face's AddedVocabulary does: the leftmost match
// first, the longest of the tokens that start there; empty tokens never match. Calls on_text
// with each non-empty stretch between matches and on_added with the index in `added` of each
// match, in text order, until one of them returns false.
void split_at_added_tokens(std::string_view text, std::span<const std::string> added,
                           const std::function<bool(std::string_view)>& on_text,
                           const std::function<bool(size_t)>& on_added);

// The first `limit` ids of text (InputError naming the byte offset if it is not valid UTF-8):
// each added token's is added_id(index in `added`), and
// append_segment(stretch, ids) appends those of the text between them (it may stop early once
// ids holds `limit`, and may overshoot: the result is cut to `limit`).
std::vector<int32_t> ids_around_added_tokens(
    std::string_view text, std::span<const std::string> added, size_t limit,
    const std::function<int32_t(size_t)>& added_id,
    const std::function<void(std::string_view, std::vector<int32_t>&)>& append_segment);

}  // namespace latte
