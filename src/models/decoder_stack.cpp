#include "decoder_stack.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "latte/core/compact.h"
#include "latte/core/error.h"
#include "latte/prune/keep.h"
#include "latte/prune/latency_table.h"

namespace latte {

namespace {

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
  if (static_cast<int64_t>(cache.layers.size()) != n_layers) {
    throw InputError("KV cache has " + std::to_string(cache.layers.size()) + " layers; the model has " +
                     std::to_string(n_layers));
  }
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
