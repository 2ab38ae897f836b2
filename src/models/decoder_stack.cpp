#include "decoder_stack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "latte/core/compact.h"
#include "latte/core/error.h"
#include "latte/prune/keep.h"
#include "latte/prune/latency_table.h"

namespace latte {

namespace {

void check_depth(const DecoderStack& stack, const KvCache& cache) {
  if (cache.layers.size() != stack.blocks.size()) {
    throw InputError("KV cache has " + std::to_string(cache.layers.size()) + " layers; the model has " +
                     std::to_string(stack.blocks.size()));
  }
}

void check_ids(const DecoderStack& stack, std::span<const int32_t> ids, int64_t first_position) {
  if (ids.empty()) throw InputError("no tokens to run");
  const int64_t end = first_position + static_cast<int64_t>(ids.size());
  if (end > stack.max_positions) {
    throw InputError("the sequence would reach " + std::to_string(end) + " tokens; the model takes at most " +
                     std::to_string(stack.max_positions) + " (" + stack.max_positions_field + ")");
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= stack.vocab_size) {
      throw InputError("token id " + std::to_string(ids[i]) + " at position " +
                       std::to_string(first_position + static_cast<int64_t>(i)) +
                       " is outside the vocabulary of " + std::to_string(stack.vocab_size));
    }
  }
}

}  // namespace

DecoderOutput decoder_forward(const DecoderStack& stack, std::span<const int32_t> ids, KvCache& cache,
                              const DecoderOptions& options, Arena& arena) {
  const auto n_layers = static_cast<int64_t>(stack.blocks.size());
  check_depth(stack, cache);
  const int64_t first_position = next_position(cache);
  check_ids(stack, ids, first_position);
  const bool pruning = options.planner != nullptr && !options.planner->dense();
  if (pruning && first_position != 0) {
    throw InputError("word-vectors are eliminated in the prefill only: the KV cache must be empty");
  }
  const int64_t n_tokens = static_cast<int64_t>(ids.size());
  const SequencePlan* plan = pruning ? &options.planner->plan(n_tokens) : nullptr;
  const bool scoring = pruning || options.on_scores;
  const int64_t width = stack.blocks.front().hidden();
  const int64_t context_width = stack.blocks.front().context_width();
  PhaseTimes* times = options.phase_times;
  if (times) *times = PhaseTimes{};
  PhaseClock clock(times != nullptr);

  arena.reset();
  int64_t rows = n_tokens;
  float* states = arena.allocate(static_cast<size_t>(rows * width));           // residual stream
  float* context = arena.allocate(static_cast<size_t>(rows * context_width));  // attention output
  float* scores = scoring ? arena.allocate(static_cast<size_t>(first_position + rows)) : nullptr;

  std::vector<int64_t> positions(static_cast<size_t>(rows));
  for (int64_t row = 0; row < rows; ++row) {
    positions[static_cast<size_t>(row)] = first_position + row;
    stack.embed(ids[static_cast<size_t>(row)], first_position + row, states + row * width);
  }

  if (times) times->embeddings = clock.lap();
  DecoderOutput output;
  for (int64_t index = 0; index < n_layers; ++index) {
    const TransformerBlock& block = stack.blocks[static_cast<size_t>(index)];
    LayerCache& layer_cache = cache.layers[static_cast<size_t>(index)];
    // The block appends the rows entering its attention to the cache, then attends over it.
    const BlockSequence sequence{.positions = positions, .cache = &layer_cache, .key_scores = scores};
    double attention_seconds = 0.0;
    block.attend(states, rows, std::span<const BlockSequence>(&sequence, 1), context, arena,
                 times ? &attention_seconds : nullptr);
    if (times) times->layer_attention.push_back(attention_seconds);
    const int64_t cached_before = layer_cache.rows() - rows;
    const std::span<const float> new_scores =
        scoring ? std::span<const float>(scores + cached_before, static_cast<size_t>(rows))
                : std::span<const float>();
    if (options.on_scores) options.on_scores(index, new_scores);
    if (pruning) {
      // The attention sink and the row that produces the next token always stay.
      const int64_t protected_rows[] = {0, rows - 1};
      const std::vector<int64_t> kept =
          decide_kept_rows(*plan, index, new_scores, options.planner->min_keep(), protected_rows);
      if (static_cast<int64_t>(kept.size()) < rows) {
        compact_rows(states, width, kept);
        compact_rows(context, context_width, kept);
        compact_values(positions, kept);
        rows = static_cast<int64_t>(kept.size());
      }
    }
    output.kept.push_back(rows);
    if (times) times->layer_in.push_back(clock.lap());
    // From here on only the kept rows: output projection, residual, FFN.
    block.finish(states, context, rows, {}, arena);
    if (times) times->layer_kept.push_back(clock.lap());
  }

  const int64_t first_out = options.all_logits ? 0 : rows - 1;
  const int64_t rows_out = rows - first_out;
  float* normed = arena.allocate(static_cast<size_t>(rows_out * width));
  std::memcpy(normed, states + first_out * width, sizeof(float) * static_cast<size_t>(rows_out * width));
  stack.final_norm(normed, rows_out);
  output.logits = Tensor({rows_out, stack.vocab_size});
  stack.lm_head(normed, rows_out, output.logits.data());
  output.positions.assign(positions.begin() + first_out, positions.end());
  if (times) times->head = clock.lap();
  require_finite_logits(output);
  return output;
}

std::vector<DecoderOutput> decoder_decode(const DecoderStack& stack, std::span<const int32_t> next_ids,
                                          std::span<KvCache* const> caches, const DecoderOptions& options,
                                          Arena& arena) {
  // Every check before the first cache changes: a bad sequence must not corrupt the others.
  if (next_ids.size() != caches.size()) {
    throw InputError("a decode step got " + std::to_string(next_ids.size()) + " tokens for " +
                     std::to_string(caches.size()) + " KV caches");
  }
  if (caches.empty()) throw InputError("a decode step got no sequences");
  if (options.planner != nullptr && !options.planner->dense()) {
    throw InputError("word-vectors are eliminated in the prefill only, not in a decode step");
  }
  if (options.on_scores || options.all_logits) {
    throw InputError("a batched decode step computes no ACC scores and one row of logits per sequence");
  }
  const auto batch = static_cast<int64_t>(caches.size());
  std::vector<int64_t> positions(static_cast<size_t>(batch));  // [batch] each row's original position
  for (size_t s = 0; s < caches.size(); ++s) {
    if (caches[s] == nullptr)
      throw InputError("sequence " + std::to_string(s) + " of a decode step has no KV cache");
    if (std::find(caches.begin(), caches.begin() + static_cast<std::ptrdiff_t>(s), caches[s]) !=
        caches.begin() + static_cast<std::ptrdiff_t>(s)) {
      throw InputError("sequence " + std::to_string(s) +
                       " of a decode step shares its KV cache with another");
    }
    check_depth(stack, *caches[s]);
    positions[s] = next_position(*caches[s]);
    check_ids(stack, next_ids.subspan(s, 1), positions[s]);
  }
  const auto n_layers = static_cast<int64_t>(stack.blocks.size());
  const int64_t width = stack.blocks.front().hidden();
  const int64_t context_width = stack.blocks.front().context_width();
  PhaseTimes* times = options.phase_times;
  if (times) *times = PhaseTimes{};
  PhaseClock clock(times != nullptr);

  arena.reset();
  float* states = arena.allocate(static_cast<size_t>(batch * width));           // [batch, hidden]
  float* context = arena.allocate(static_cast<size_t>(batch * context_width));  // [batch, n_heads head_dim]
  for (int64_t s = 0; s < batch; ++s) {
    stack.embed(next_ids[static_cast<size_t>(s)], positions[static_cast<size_t>(s)], states + s * width);
  }
  if (times) times->embeddings = clock.lap();

  // One row per sequence: the products run once over the batch, attention per sequence.
  std::vector<BlockSequence> sequences(static_cast<size_t>(batch));
  for (int64_t index = 0; index < n_layers; ++index) {
    for (size_t s = 0; s < sequences.size(); ++s) {
      sequences[s] = BlockSequence{.positions = std::span<const int64_t>(&positions[s], 1),
                                   .cache = &caches[s]->layers[static_cast<size_t>(index)]};
    }
    const TransformerBlock& block = stack.blocks[static_cast<size_t>(index)];
    double attention_seconds = 0.0;
    block.attend(states, batch, sequences, context, arena, times ? &attention_seconds : nullptr);
    if (times) {
      times->layer_attention.push_back(attention_seconds);
      times->layer_in.push_back(clock.lap());
    }
    block.finish(states, context, batch, {}, arena);
    if (times) times->layer_kept.push_back(clock.lap());
  }

  stack.final_norm(states, batch);
  Tensor logits({batch, stack.vocab_size});
  stack.lm_head(states, batch, logits.data());
  std::vector<DecoderOutput> outputs(static_cast<size_t>(batch));
  const auto vocab = static_cast<size_t>(stack.vocab_size);
  for (size_t s = 0; s < outputs.size(); ++s) {
    DecoderOutput& output = outputs[s];
    output.logits = Tensor({1, stack.vocab_size});
    std::memcpy(output.logits.data(), logits.data() + s * vocab, sizeof(float) * vocab);
    output.positions = {positions[s]};
    output.kept.assign(static_cast<size_t>(n_layers), 1);
  }
  if (times) times->head = clock.lap();
  for (const DecoderOutput& output : outputs) require_finite_logits(output);
  return outputs;
}

void require_finite_logits(const DecoderOutput& output) {
  const float* logits = output.logits.data();
  const int64_t vocab = output.logits.rank() == 2 ? output.logits.shape()[1] : 0;
  for (int64_t i = 0; i < output.logits.numel(); ++i) {
    if (!std::isfinite(logits[i])) {
      throw Error("the model's output is not finite (NaN or infinity) at position " +
                  std::to_string(output.positions[static_cast<size_t>(i / vocab)]));
    }
  }
}

}  // namespace latte
