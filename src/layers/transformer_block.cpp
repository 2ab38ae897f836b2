#include "latte/layers/transformer_block.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "latte/core/error.h"

namespace latte {

namespace {

std::string shape_text(int64_t rows, int64_t columns) {
  return "[" + std::to_string(rows) + ", " + std::to_string(columns) + "]";
}

// A Linear of the block must map `in` features to `out`.
void check_linear(const Linear& linear, int64_t out, int64_t in, const std::string& name) {
  if (linear.out_features() != out || linear.in_features() != in) {
    throw InputError("transformer block: " + name + " has shape " +
                     shape_text(linear.out_features(), linear.in_features()) + ", expected " +
                     shape_text(out, in));
  }
}

void check_accumulates(const Linear& linear, const std::string& name) {
  if (!linear.accumulates()) {
    throw InputError("transformer block: " + name +
                     " must accumulate into the residual stream (Linear built with accumulate = true)");
  }
}

void check_norm(const Norm& norm, int64_t hidden, const std::string& name) {
  if (norm.width() != hidden) {
    throw InputError("transformer block: " + name + " has width " + std::to_string(norm.width()) +
                     ", expected the hidden size " + std::to_string(hidden));
  }
}

void check_heads(const AttentionSpec& spec) {
  if (spec.n_heads <= 0 || spec.n_kv_heads <= 0 || spec.head_dim <= 0 ||
      spec.n_heads % spec.n_kv_heads != 0) {
    throw InputError(
        "transformer block: attention needs positive n_heads, n_kv_heads and head_dim with "
        "n_kv_heads dividing n_heads, got " +
        std::to_string(spec.n_heads) + ", " + std::to_string(spec.n_kv_heads) + ", " +
        std::to_string(spec.head_dim));
  }
}

// Sequence s covers rows [offsets[s], offsets[s + 1]) of the batch.
std::vector<int64_t> sequence_offsets(std::span<const BlockSequence> sequences, int64_t rows) {
  std::vector<int64_t> offsets = {0};
  for (const BlockSequence& sequence : sequences)
    offsets.push_back(offsets.back() + static_cast<int64_t>(sequence.positions.size()));
  if (offsets.back() != rows) {
    throw InputError("transformer block: the sequences hold " + std::to_string(offsets.back()) +
                     " rows, the states " + std::to_string(rows));
  }
  return offsets;
}

}  // namespace

void Norm::operator()(float* x, int64_t rows) const {
  std::visit([&](const auto& norm) { norm(x, rows); }, norm_);
}

int64_t Norm::width() const {
  return std::visit([](const auto& norm) { return norm.width(); }, norm_);
}

Tensor concatenate_rows(std::span<const Tensor> parts) {
  if (parts.empty()) throw InputError("concatenate_rows: no tensors");
  const std::vector<int64_t>& first = parts.front().shape();
  std::vector<int64_t> shape = first;
  for (const Tensor& part : parts) {
    if (part.rank() == 0 || part.rank() != parts.front().rank() ||
        !std::equal(part.shape().begin() + 1, part.shape().end(), first.begin() + 1)) {
      throw InputError("concatenate_rows: a part of shape " + part.shape_str() +
                       " does not stack on one of shape " + parts.front().shape_str());
    }
  }
  shape.front() = 0;
  for (const Tensor& part : parts) shape.front() += part.shape().front();
  Tensor result(shape);
  float* out = result.data();
  for (const Tensor& part : parts) {
    std::memcpy(out, part.data(), sizeof(float) * static_cast<size_t>(part.numel()));
    out += part.numel();
  }
  return result;
}

AttentionSpec scaled_attention(int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, bool causal) {
  return {.n_heads = n_heads,
          .n_kv_heads = n_kv_heads,
          .head_dim = head_dim,
          .scale = 1.0f / std::sqrt(static_cast<float>(head_dim)),
          .causal = causal};
}

TransformerBlock::TransformerBlock(const TransformerBlockSpec& spec, SelfAttentionWeights self_attention,
                                   FeedForwardWeights ffn,
                                   std::optional<CrossAttentionWeights> cross_attention)
    : spec_(spec),
      self_(std::move(self_attention)),
      ffn_(std::move(ffn)),
      cross_(std::move(cross_attention)),
      hidden_(self_.output.out_features()) {
  check_heads(spec_.attention);
  const int64_t context = context_width();
  check_linear(self_.qkv, context + 2 * kv_width(), hidden_, "self-attention qkv");
  check_linear(self_.output, hidden_, context, "self-attention output");
  check_accumulates(self_.output, "self-attention output");
  check_norm(self_.norm, hidden_, "self-attention norm");
  if (ffn_.ffn.hidden() != hidden_) {
    throw InputError("transformer block: feed-forward hidden size " + std::to_string(ffn_.ffn.hidden()) +
                     " differs from the attention's " + std::to_string(hidden_));
  }
  check_norm(ffn_.norm, hidden_, "feed-forward norm");
  if (cross_) {
    check_linear(cross_->query, context, hidden_, "cross-attention query");
    if (cross_->key_value.out_features() != 2 * kv_width()) {
      throw InputError("transformer block: cross-attention key_value has " +
                       std::to_string(cross_->key_value.out_features()) + " outputs, expected 2 * " +
                       std::to_string(kv_width()));
    }
    check_linear(cross_->output, hidden_, context, "cross-attention output");
    check_accumulates(cross_->output, "cross-attention output");
    check_norm(cross_->norm, hidden_, "cross-attention norm");
  }
  if (spec_.rotary) {
    const int64_t rotary_dim = spec_.rotary->rotary_dim;
    if (rotary_dim <= 0 || rotary_dim % 2 != 0 || rotary_dim > spec_.attention.head_dim) {
      throw InputError("transformer block: rotary_dim " + std::to_string(rotary_dim) +
                       " must be even and in 2..head_dim " + std::to_string(spec_.attention.head_dim));
    }
  }
}

const float* TransformerBlock::sublayer_input(const float* x, int64_t rows, const Norm& norm,
                                              Arena& arena) const {
  if (spec_.placement == NormPlacement::kPost) return x;
  float* normed = arena.allocate(static_cast<size_t>(rows * hidden_));
  std::memcpy(normed, x, sizeof(float) * static_cast<size_t>(rows * hidden_));
  norm(normed, rows);
  return normed;
}

void TransformerBlock::attend(const float* states, int64_t rows, std::span<const BlockSequence> sequences,
                              float* context, Arena& arena, double* attention_seconds) const {
  const std::vector<int64_t> offsets = sequence_offsets(sequences, rows);
  for (const BlockSequence& sequence : sequences) {
    if (sequence.cache && sequence.cache->width() != kv_width()) {
      throw InputError("transformer block: KV cache width " + std::to_string(sequence.cache->width()) +
                       " differs from n_kv_heads * head_dim = " + std::to_string(kv_width()));
    }
    // Head-major blocks must be this layer's heads (whole rows fit any head size).
    if (sequence.cache && sequence.cache->head_dim() != kv_width() &&
        sequence.cache->head_dim() != spec_.attention.head_dim) {
      throw InputError("transformer block: KV cache head_dim " + std::to_string(sequence.cache->head_dim()) +
                       " differs from the attention's " + std::to_string(spec_.attention.head_dim));
    }
  }
  if (rows == 0) return;
  ArenaScope scope(arena);
  const AttentionSpec& heads = spec_.attention;
  const int64_t query_width = context_width();
  const int64_t qkv_width = query_width + 2 * kv_width();
  float* qkv = arena.allocate(static_cast<size_t>(rows * qkv_width));  // [rows, Q | K | V]
  self_.qkv(sublayer_input(states, rows, self_.norm, arena), rows, qkv);
  const auto attention_start = std::chrono::steady_clock::now();

  std::vector<AttentionSequence> attended(sequences.size());
  for (size_t s = 0; s < sequences.size(); ++s) {
    const BlockSequence& sequence = sequences[s];
    const int64_t first = offsets[s];
    const auto n = static_cast<int64_t>(sequence.positions.size());
    float* row = qkv + first * qkv_width;
    if (spec_.rotary) {
      apply_rotary(row, n, qkv_width, heads.n_heads, heads.head_dim, sequence.positions, *spec_.rotary);
      apply_rotary(row + query_width, n, qkv_width, heads.n_kv_heads, heads.head_dim, sequence.positions,
                   *spec_.rotary);
    }
    AttentionSequence& target = attended[s];
    target.queries = row;
    target.query_stride = qkv_width;
    target.query_positions = sequence.positions;
    if (sequence.cache) {
      // The cache holds exactly the rows that enter this layer's attention.
      sequence.cache->append(row + query_width, row + query_width + kv_width(), qkv_width, n,
                             sequence.positions);
      target.keys = sequence.cache->keys();
      target.values = sequence.cache->values();
      target.key_value_stride = sequence.cache->row_stride();
      target.key_value_head_stride = sequence.cache->head_stride();
      target.key_positions = sequence.cache->positions();
    } else {
      target.keys = row + query_width;
      target.values = row + query_width + kv_width();
      target.key_value_stride = qkv_width;
      target.key_positions = sequence.positions;
    }
    target.context = context + first * query_width;
    target.context_stride = query_width;
    target.key_scores = sequence.key_scores;
  }
  attention(heads, attended, spec_.position_bias.get(), arena);
  if (attention_seconds) {
    *attention_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - attention_start).count();
  }
}

void TransformerBlock::cross_attend(float* states, int64_t rows, std::span<const BlockSequence> sequences,
                                    Arena& arena) const {
  const std::vector<int64_t> offsets = sequence_offsets(sequences, rows);
  const int64_t query_width = context_width();
  float* queries = arena.allocate(static_cast<size_t>(rows * query_width));
  cross_->query(sublayer_input(states, rows, cross_->norm, arena), rows, queries);
  float* context = arena.allocate(static_cast<size_t>(rows * query_width));
  std::vector<AttentionSequence> attended(sequences.size());
  for (size_t s = 0; s < sequences.size(); ++s) {
    const CrossMemory* memory = sequences[s].memory;
    if (memory == nullptr) {
      throw InputError("transformer block: sequence " + std::to_string(s) +
                       " has no encoder memory for the cross-attention");
    }
    const int64_t first = offsets[s];
    attended[s] =
        AttentionSequence{.queries = queries + first * query_width,
                          .query_stride = query_width,
                          .query_positions = sequences[s].positions,
                          .keys = memory->key_values,
                          .values = memory->values ? memory->values : memory->key_values + kv_width(),
                          .key_value_stride = memory->values ? memory->stride : 2 * kv_width(),
                          .key_positions = memory->positions,
                          .context = context + first * query_width,
                          .context_stride = query_width};
  }
  AttentionSpec spec = spec_.attention;
  spec.causal = false;
  attention(spec, attended, nullptr, arena);
  cross_->output(context, rows, states);  // states += context W + b
  if (spec_.placement == NormPlacement::kPost) cross_->norm(states, rows);
}

void TransformerBlock::finish(float* states, const float* context, int64_t rows,
                              std::span<const BlockSequence> sequences, Arena& arena) const {
  if (rows == 0) return;
  ArenaScope scope(arena);
  const bool post = spec_.placement == NormPlacement::kPost;
  self_.output(context, rows, states);  // states += context W + b
  if (post) self_.norm(states, rows);
  if (cross_) cross_attend(states, rows, sequences, arena);
  // Post-norm feeds the stream itself to the FFN: FeedForward reads all of x before it adds.
  ffn_.ffn(sublayer_input(states, rows, ffn_.norm, arena), rows, states, arena);
  if (post) ffn_.norm(states, rows);
}

void TransformerBlock::project_memory(const float* encoder_states, int64_t rows, float* key_values) const {
  if (!cross_) throw InputError("transformer block: project_memory on a block without cross-attention");
  cross_->key_value(encoder_states, rows, key_values);
}

}  // namespace latte
