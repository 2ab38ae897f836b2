#include "decoder_stack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
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

DecoderPrefill::DecoderPrefill(DecoderStack stack, std::span<const int32_t> ids, KvCache& cache,
                               const DecoderOptions& options, Arena& workspace, bool resumable)
    : stack_(std::move(stack)),
      cache_(cache),
      options_(options),
      workspace_(workspace),
      rows_arena_(resumable ? &own_ : &workspace) {
  check_depth(stack_, cache_);
  const int64_t first_position = next_position(cache_);
  check_ids(stack_, ids, first_position);
  const bool pruning = options_.planner != nullptr && !options_.planner->dense();
  if (pruning && first_position != 0) {
    throw InputError("word-vectors are eliminated in the prefill only: the KV cache must be empty");
  }
  rows_ = static_cast<int64_t>(ids.size());
  plan_ = pruning ? &options_.planner->plan(rows_) : nullptr;
  width_ = stack_.blocks.front().hidden();
  context_width_ = stack_.blocks.front().context_width();
  PhaseTimes* times = options_.phase_times;
  if (times) *times = PhaseTimes{};
  PhaseClock clock(times != nullptr);

  workspace_.reset();
  states_ = rows_arena_->allocate(static_cast<size_t>(rows_ * width_));
  context_ = rows_arena_->allocate(static_cast<size_t>(rows_ * context_width_));
  const bool scoring = pruning || options_.on_scores;
  scores_ = scoring ? rows_arena_->allocate(static_cast<size_t>(first_position + rows_)) : nullptr;
  positions_.resize(static_cast<size_t>(rows_));
  for (int64_t row = 0; row < rows_; ++row) {
    positions_[static_cast<size_t>(row)] = first_position + row;
    stack_.embed(ids[static_cast<size_t>(row)], first_position + row, states_ + row * width_);
  }
  if (times) times->embeddings = clock.lap();
}

void DecoderPrefill::run_layer() {
  if (layer_ >= layers()) throw InputError("the prefill has run every layer already");
  if (rows_arena_ != &workspace_) workspace_.reset();
  PhaseTimes* times = options_.phase_times;
  PhaseClock clock(times != nullptr);
  const TransformerBlock& block = stack_.blocks[static_cast<size_t>(layer_)];
  LayerCache& layer_cache = cache_.layers[static_cast<size_t>(layer_)];
  // The block appends the rows entering its attention to the cache, then attends over it.
  const BlockSequence sequence{.positions = positions_, .cache = &layer_cache, .key_scores = scores_};
  double attention_seconds = 0.0;
  block.attend(states_, rows_, std::span<const BlockSequence>(&sequence, 1), context_, workspace_,
               times ? &attention_seconds : nullptr);
  if (times) times->layer_attention.push_back(attention_seconds);
  const int64_t cached_before = layer_cache.rows() - rows_;
  const std::span<const float> new_scores =
      scores_ ? std::span<const float>(scores_ + cached_before, static_cast<size_t>(rows_))
              : std::span<const float>();
  if (options_.on_scores) options_.on_scores(layer_, new_scores);
  if (plan_ != nullptr) {
    // The attention sink and the row that produces the next token always stay.
    const int64_t protected_rows[] = {0, rows_ - 1};
    const std::vector<int64_t> kept =
        decide_kept_rows(*plan_, layer_, new_scores, options_.planner->min_keep(), protected_rows);
    if (static_cast<int64_t>(kept.size()) < rows_) {
      compact_rows(states_, width_, kept);
      compact_rows(context_, context_width_, kept);
      compact_values(positions_, kept);
      rows_ = static_cast<int64_t>(kept.size());
    }
  }
  output_.kept.push_back(rows_);
  if (times) times->layer_in.push_back(clock.lap());
  // From here on only the kept rows: output projection, residual, FFN.
  block.finish(states_, context_, rows_, {}, workspace_);
  if (times) times->layer_kept.push_back(clock.lap());
  ++layer_;
}

DecoderOutput DecoderPrefill::finish() {
  if (!done()) {
    throw InputError("the prefill has run " + std::to_string(layer_) + " of " + std::to_string(layers()) +
                     " layers; it cannot finish yet");
  }
  if (finished_) throw InputError("the prefill has finished already");
  finished_ = true;
  if (rows_arena_ != &workspace_) workspace_.reset();
  PhaseTimes* times = options_.phase_times;
  PhaseClock clock(times != nullptr);
  DecoderOutput output = std::move(output_);
  const int64_t first_out = options_.all_logits ? 0 : rows_ - 1;
  const int64_t rows_out = rows_ - first_out;
  float* normed = workspace_.allocate(static_cast<size_t>(rows_out * width_));
  std::memcpy(normed, states_ + first_out * width_, sizeof(float) * static_cast<size_t>(rows_out * width_));
  stack_.final_norm(normed, rows_out);
  output.logits = Tensor({rows_out, stack_.vocab_size});
  stack_.lm_head(normed, rows_out, output.logits.data());
  output.positions.assign(positions_.begin() + first_out, positions_.end());
  if (times) times->head = clock.lap();
  require_finite_logits(output);
  return output;
}

DecoderOutput decoder_forward(const DecoderStack& stack, std::span<const int32_t> ids, KvCache& cache,
                              const DecoderOptions& options, Arena& arena) {
  DecoderPrefill run(stack, ids, cache, options, arena, /*resumable=*/false);
  while (!run.done()) run.run_layer();
  return run.finish();
}

std::vector<DecoderOutput> decoder_decode(const DecoderStack& stack, std::span<const int32_t> next_ids,
                                          std::span<KvCache* const> caches, const DecoderOptions& options,
                                          Arena& arena) {
  // Every check before the first cache changes: a bad sequence must not corrupt the others.
  check_decode_step(next_ids, caches, options, "KV cache");
  if (options.planner != nullptr && !options.planner->dense()) {
    throw InputError("word-vectors are eliminated in the prefill only, not in a decode step");
  }
  const auto batch = static_cast<int64_t>(caches.size());
  std::vector<int64_t> positions(static_cast<size_t>(batch));  // [batch] each row's original position
  for (size_t s = 0; s < caches.size(); ++s) {
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
