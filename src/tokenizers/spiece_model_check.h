// What the SentencePiece library trusts in a model file and must not: the normaliser's
// precompiled character map, a darts-clone double-array trie plus the replacement strings it
// points into, is used as stored, so a damaged one makes Encode read out of bounds (found by
// fuzz_sentencepiece). This check walks the map before the library sees the file.
#pragma once

#include <string>
#include <string_view>

namespace latte {

// FormatError "SOURCE: not a valid SentencePiece model: ..." when the serialized ModelProto's
// normalizer_spec or denormalizer_spec holds a precompiled_charsmap whose trie could lead a
// lookup outside the array or to a replacement string outside the map, or when the bytes are
// not protobuf wire format at all. Only those two fields are read; the library parses the rest.
void check_precompiled_charsmaps(std::string_view model_bytes, const std::string& source);

}  // namespace latte
