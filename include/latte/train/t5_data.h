// Training data of the T5 runs: span corruption (T5's pretraining objective, as
// t5.data.preprocessors.span_corruption builds it) and seq2seq JSONL examples.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "latte/tokenizers/sentencepiece_tokenizer.h"

namespace latte::train {

// T5's random_spans_noise_mask: `length` tokens, round(length * noise_density) of them (at
// least 1, at most length - 1) noise, in round(noise / mean_span_length) spans (at least 1) that
// alternate with as many non-noise spans, the first span non-noise; both partitions random.
std::vector<bool> random_spans_noise_mask(int64_t length, double noise_density, double mean_span_length,
                                          std::mt19937_64& generator);

// The number of tokens of a passage whose span-corrupted inputs (non-noise tokens, one
// sentinel per span, </s>) fill at most `inputs_length` (T5's random_spans_helper), and the
// length of its targets (noise tokens, one sentinel per span, </s>).
struct SpanLengths {
  int64_t tokens = 0, inputs = 0, targets = 0;
};
SpanLengths span_corruption_lengths(int64_t inputs_length, double noise_density, double mean_span_length);

// inputs: each noise span replaced by one sentinel (<extra_id_0>, <extra_id_1>, ... in order),
// then </s>; targets: each non-noise span replaced by the next sentinel, then </s>. InputError
// when the spans outnumber the tokenizer's sentinels.
struct Seq2SeqIds {
  std::vector<int32_t> source, target;
};
Seq2SeqIds span_corrupt(const std::vector<int32_t>& tokens, const std::vector<bool>& noise,
                        const SentencePieceTokenizer& tokenizer);

// One seq2seq example: the tokenized source and target, each ending in </s>.
struct Seq2SeqExample {
  Seq2SeqIds ids;
  std::string origin;  // FILE:LINE
};
struct Seq2SeqFile {
  std::vector<Seq2SeqExample> examples;
  int64_t truncated_sources = 0, truncated_targets = 0;
};
// JSONL lines {"source": string, "target": string, ...} (other fields ignored), the source cut to
// max_source_len tokens and the target to max_target_len, </s> included. Blank lines are
// skipped; anything else malformed is an InputError naming FILE:LINE and the field.
Seq2SeqFile read_seq2seq_jsonl(const std::filesystem::path& path, const SentencePieceTokenizer& tokenizer,
                               int64_t max_source_len, int64_t max_target_len);

// Indices of `count` items spread evenly over `size` (i * size / count, in order; all of them
// when count >= size): the dev examples a run scores, so a file grouped by task is scored whole.
std::vector<size_t> even_spread(size_t size, size_t count);

}  // namespace latte::train
