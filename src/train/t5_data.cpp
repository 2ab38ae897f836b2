#include "latte/train/t5_data.h"

#include <algorithm>
#include <cmath>

#include "latte/core/error.h"
#include "latte/io/read_file.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte::train {

namespace {

// Python's and TensorFlow's round: halves to even.
int64_t round_half_even(double value) { return static_cast<int64_t>(std::nearbyint(value)); }

// T5's _random_segmentation: `items` split into `segments` non-empty runs at random; their lengths.
std::vector<int64_t> random_segmentation(int64_t items, int64_t segments, std::mt19937_64& generator) {
  // A segment starts after each of segments - 1 of the items - 1 gaps, chosen by a shuffle.
  std::vector<char> starts(static_cast<size_t>(items - 1), 0);
  std::fill(starts.begin(), starts.begin() + (segments - 1), 1);
  std::shuffle(starts.begin(), starts.end(), generator);
  std::vector<int64_t> lengths(1, 1);
  for (const char start : starts) {
    if (start) {
      lengths.push_back(1);
    } else {
      ++lengths.back();
    }
  }
  return lengths;
}

// T5's noise_span_to_unique_sentinel: each run of `replaced` tokens becomes the next sentinel.
std::vector<int32_t> spans_to_sentinels(const std::vector<int32_t>& tokens, const std::vector<bool>& noise,
                                        bool replaced, const SentencePieceTokenizer& tokenizer) {
  std::vector<int32_t> out;
  int64_t sentinel = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (noise[i] != replaced) {
      out.push_back(tokens[i]);
    } else if (i == 0 || noise[i - 1] != replaced) {
      if (sentinel >= tokenizer.extra_ids()) {
        throw InputError("span corruption needs more than the tokenizer's " +
                         std::to_string(tokenizer.extra_ids()) + " sentinels; use a shorter --seq-len");
      }
      out.push_back(tokenizer.sentinel_id(sentinel++));
    }
  }
  out.push_back(*tokenizer.end_of_text_id());
  return out;
}

}  // namespace

std::vector<bool> random_spans_noise_mask(int64_t length, double noise_density, double mean_span_length,
                                          std::mt19937_64& generator) {
  const int64_t original_length = length;
  length = std::max<int64_t>(length, 2);
  const int64_t noise_tokens =
      std::clamp<int64_t>(round_half_even(static_cast<double>(length) * noise_density), 1, length - 1);
  const int64_t spans = std::max<int64_t>(
      1,
      std::min(round_half_even(static_cast<double>(noise_tokens) / mean_span_length), length - noise_tokens));
  const std::vector<int64_t> noise_lengths = random_segmentation(noise_tokens, spans, generator);
  const std::vector<int64_t> plain_lengths = random_segmentation(length - noise_tokens, spans, generator);
  std::vector<bool> mask;
  mask.reserve(static_cast<size_t>(length));
  for (int64_t span = 0; span < spans; ++span) {
    mask.insert(mask.end(), static_cast<size_t>(plain_lengths[static_cast<size_t>(span)]), false);
    mask.insert(mask.end(), static_cast<size_t>(noise_lengths[static_cast<size_t>(span)]), true);
  }
  mask.resize(static_cast<size_t>(original_length));
  return mask;
}

SpanLengths span_corruption_lengths(int64_t inputs_length, double noise_density, double mean_span_length) {
  const auto lengths_of = [&](int64_t tokens) {
    const int64_t noise = round_half_even(static_cast<double>(tokens) * noise_density);
    const int64_t spans = round_half_even(static_cast<double>(noise) / mean_span_length);
    return SpanLengths{tokens, tokens - noise + spans + 1, noise + spans + 1};
  };
  int64_t tokens = std::max<int64_t>(1, inputs_length - 1);
  while (lengths_of(tokens + 1).inputs <= inputs_length) ++tokens;
  return lengths_of(tokens);
}

Seq2SeqIds span_corrupt(const std::vector<int32_t>& tokens, const std::vector<bool>& noise,
                        const SentencePieceTokenizer& tokenizer) {
  if (noise.size() != tokens.size()) throw Error("span_corrupt: the noise mask does not match the tokens");
  return {spans_to_sentinels(tokens, noise, true, tokenizer),
          spans_to_sentinels(tokens, noise, false, tokenizer)};
}

Seq2SeqFile read_seq2seq_jsonl(const std::filesystem::path& path, const SentencePieceTokenizer& tokenizer,
                               int64_t max_source_len, int64_t max_target_len) {
  LineReader file(ReadableFile::open(path, FileSource::kUser, "data file"));
  Seq2SeqFile result;
  for (std::string line; file.next(line);) {
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    const std::string origin = path.string() + ":" + std::to_string(file.line_number());
    const nlohmann::json record = parse_json_bounded(line, origin, FileSource::kUser);
    if (!record.is_object()) throw InputError(origin + ": expected a JSON object {\"source\", \"target\"}");
    const auto text = [&](const char* field) {
      if (!record.contains(field)) throw InputError(origin + ": field '" + field + "' is missing");
      if (!record[field].is_string()) {
        throw InputError(origin + ": field '" + field + "' must be a string, got " +
                         json_preview(record[field]));
      }
      const std::string value = record[field].get<std::string>();
      const size_t invalid = find_invalid_utf8(value);
      if (invalid != std::string::npos) {
        throw InputError(origin + ": field '" + field + "' has invalid UTF-8 at byte " +
                         std::to_string(invalid + 1));
      }
      return value;
    };
    Seq2SeqExample example{{}, origin};
    const std::string source = text("source"), target = text("target");
    // Cut as encode(text, max_length) cuts: the first max_length - 1 ids, then </s>.
    const auto encode = [&](const std::string& value, int64_t max_length, int64_t& truncated) {
      std::vector<int32_t> ids = tokenizer.encode(value, 0).ids;
      if (static_cast<int64_t>(ids.size()) > max_length) {
        ids.erase(ids.begin() + (max_length - 1), ids.end() - 1);
        ++truncated;
      }
      return ids;
    };
    example.ids.source = encode(text("source"), max_source_len, result.truncated_sources);
    example.ids.target = encode(text("target"), max_target_len, result.truncated_targets);
    result.examples.push_back(std::move(example));
  }
  if (result.examples.empty()) throw InputError(path.string() + ": no examples (the file is empty)");
  return result;
}

std::vector<size_t> even_spread(size_t size, size_t count) {
  count = std::min(count, size);
  std::vector<size_t> indices(count);
  for (size_t i = 0; i < count; ++i) indices[i] = i * size / count;
  return indices;
}

}  // namespace latte::train
