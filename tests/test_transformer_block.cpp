// layers/transformer_block.h against a naive layer written out here in double (separate Q, K, V
// products, rotary from its definition, attention over every key with the mask checked per
// key), dense and with a subset of rows kept between the two phases; and core/arena.h's rewind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "latte/core/arena.h"
#include "latte/core/error.h"
#include "latte/layers/transformer_block.h"
#include "latte/prune/keep.h"
#include "test_support.h"

namespace latte {
namespace {

using test_support::reference_activation;
using test_support::uniform;

using Rows = std::vector<double>;  // [rows, width], row-major

Tensor tensor_of(const std::vector<float>& values, std::vector<int64_t> shape) {
  Tensor tensor(std::move(shape));
  std::copy(values.begin(), values.end(), tensor.data());
  return tensor;
}

struct LinearParams {
  int64_t out = 0, in = 0;
  std::vector<float> weight;  // [out, in]
  std::vector<float> bias;    // [out] or empty
};

LinearParams random_linear(int64_t out, int64_t in, uint32_t seed, bool with_bias = true) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(in));
  return {out, in, uniform(out * in, scale, seed),
          with_bias ? uniform(out, 0.1f, seed + 1000) : std::vector<float>()};
}

Tensor weight_of(const LinearParams& p) { return tensor_of(p.weight, {p.out, p.in}); }
Tensor bias_of(const LinearParams& p) { return p.bias.empty() ? Tensor() : tensor_of(p.bias, {p.out}); }

Linear make_linear(const LinearParams& p, Activation activation, bool accumulate = false) {
  return Linear(weight_of(p), bias_of(p), activation, accumulate);
}

Rows naive_linear(const Rows& x, int64_t rows, const LinearParams& p) {
  Rows y(static_cast<size_t>(rows * p.out));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < p.out; ++o) {
      double total = p.bias.empty() ? 0.0 : p.bias[o];
      for (int64_t i = 0; i < p.in; ++i) total += x[r * p.in + i] * p.weight[o * p.in + i];
      y[r * p.out + o] = total;
    }
  }
  return y;
}

struct NormParams {
  bool rms = false;
  std::vector<float> gamma, beta;  // beta: LayerNorm only
  float eps = 1e-5f;
};

NormParams random_norm(bool rms, int64_t width, uint32_t seed) {
  NormParams p{rms, uniform(width, 0.5f, seed), rms ? std::vector<float>() : uniform(width, 0.2f, seed + 1)};
  for (float& g : p.gamma) g += 1.0f;
  return p;
}

Norm make_norm(const NormParams& p) {
  const auto width = static_cast<int64_t>(p.gamma.size());
  if (p.rms) return RMSNorm(tensor_of(p.gamma, {width}), p.eps);
  return LayerNorm(tensor_of(p.gamma, {width}), tensor_of(p.beta, {width}), p.eps);
}

Rows naive_norm(Rows x, int64_t rows, const NormParams& p) {
  const auto width = static_cast<int64_t>(p.gamma.size());
  for (int64_t r = 0; r < rows; ++r) {
    double* row = x.data() + r * width;
    double mean = 0.0;
    if (!p.rms) {
      for (int64_t i = 0; i < width; ++i) mean += row[i];
      mean /= static_cast<double>(width);
    }
    double square = 0.0;
    for (int64_t i = 0; i < width; ++i) square += (row[i] - mean) * (row[i] - mean);
    const double inverse = 1.0 / std::sqrt(square / static_cast<double>(width) + p.eps);
    for (int64_t i = 0; i < width; ++i)
      row[i] = (row[i] - mean) * inverse * p.gamma[i] + (p.rms ? 0.0 : p.beta[i]);
  }
  return x;
}

// rotate_half rotary (Llama): pair (i, i + rotary_dim / 2) of each head turns by
// position * theta^(-2i / rotary_dim).
void naive_rotary(Rows& x, int64_t rows, int64_t n_heads, int64_t head_dim,
                  const std::vector<int64_t>& positions, const RotarySpec& spec) {
  const int64_t half = spec.rotary_dim / 2;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle =
            static_cast<double>(positions[r]) *
            std::pow(spec.theta, -2.0 * static_cast<double>(i) / static_cast<double>(spec.rotary_dim));
        double* a = &x[r * n_heads * head_dim + h * head_dim + i];
        double* b = a + half;
        const double first = *a, second = *b;
        *a = first * std::cos(angle) - second * std::sin(angle);
        *b = second * std::cos(angle) + first * std::sin(angle);
      }
    }
  }
}

// T5-like relative bias: nearer keys weigh more, each head its own offset.
class DistanceBias : public PositionBias {
 public:
  void add(int64_t head, int64_t query_position, std::span<const int64_t> key_positions,
           float* logits) const override {
    for (size_t j = 0; j < key_positions.size(); ++j)
      logits[j] += -0.2f * static_cast<float>(std::llabs(query_position - key_positions[j])) + 0.3f * head;
  }
};

struct NaiveAttention {
  Rows context;               // [n_queries, n_heads head_dim]
  std::vector<double> score;  // [n_keys] ACC scores
};

// Every query against every key, the causal mask checked key by key.
NaiveAttention naive_attention(const Rows& q, const Rows& k, const Rows& v,
                               const std::vector<int64_t>& q_positions,
                               const std::vector<int64_t>& k_positions, const AttentionSpec& spec,
                               const PositionBias* bias) {
  const auto n_q = static_cast<int64_t>(q_positions.size()), n_k = static_cast<int64_t>(k_positions.size());
  const int64_t hd = spec.head_dim, width = spec.n_heads * hd, kv_width = spec.n_kv_heads * hd;
  NaiveAttention out{Rows(static_cast<size_t>(n_q * width), 0.0),
                     std::vector<double>(static_cast<size_t>(n_k), 0.0)};
  std::vector<double> seen_by(static_cast<size_t>(n_k), 0.0);
  for (int64_t h = 0; h < spec.n_heads; ++h) {
    const int64_t kv_h = h / (spec.n_heads / spec.n_kv_heads);
    for (int64_t i = 0; i < n_q; ++i) {
      std::vector<double> p(static_cast<size_t>(n_k), 0.0);
      double maximum = -1e300, total = 0.0;
      for (int64_t j = 0; j < n_k; ++j) {
        if (spec.causal && k_positions[j] > q_positions[i]) continue;
        double logit = 0.0;
        for (int64_t d = 0; d < hd; ++d) logit += q[i * width + h * hd + d] * k[j * kv_width + kv_h * hd + d];
        logit *= spec.scale;
        if (bias) {
          float b = 0.0f;
          bias->add(h, q_positions[i], std::span<const int64_t>(&k_positions[j], 1), &b);
          logit += b;
        }
        p[j] = logit;
        maximum = std::max(maximum, logit);
      }
      for (int64_t j = 0; j < n_k; ++j) {
        const bool visible = !spec.causal || k_positions[j] <= q_positions[i];
        p[j] = visible ? std::exp(p[j] - maximum) : 0.0;
        total += p[j];
        if (visible && h == 0) seen_by[j] += 1.0;
      }
      for (int64_t j = 0; j < n_k; ++j) {
        p[j] /= total;
        out.score[j] += p[j] / static_cast<double>(spec.n_heads);
        for (int64_t d = 0; d < hd; ++d)
          out.context[i * width + h * hd + d] += p[j] * v[j * kv_width + kv_h * hd + d];
      }
    }
  }
  if (spec.causal) {
    for (int64_t j = 0; j < n_k; ++j) out.score[j] = seen_by[j] > 0 ? out.score[j] / seen_by[j] : 0.0;
  }
  return out;
}

struct BlockParams {
  TransformerBlockSpec spec;
  int64_t hidden = 0;
  NormParams attention_norm, ffn_norm;
  LinearParams q, k, v, o;
  Activation activation = Activation::kGeluErf;
  bool gated = false;
  LinearParams gate, up, down;  // plain: gate = in, down = out
  bool cross = false;
  NormParams cross_norm;
  LinearParams cross_q, cross_kv, cross_o;
};

BlockParams random_block(const TransformerBlockSpec& spec, int64_t hidden, int64_t intermediate, bool rms,
                         bool gated, bool with_bias, Activation activation, int64_t encoder_hidden = 0) {
  const AttentionSpec& a = spec.attention;
  const int64_t width = a.n_heads * a.head_dim, kv_width = a.n_kv_heads * a.head_dim;
  BlockParams p;
  p.spec = spec;
  p.hidden = hidden;
  p.attention_norm = random_norm(rms, hidden, 10);
  p.ffn_norm = random_norm(rms, hidden, 20);
  p.q = random_linear(width, hidden, 30, with_bias);
  p.k = random_linear(kv_width, hidden, 31, with_bias);
  p.v = random_linear(kv_width, hidden, 32, with_bias);
  p.o = random_linear(hidden, width, 33, with_bias);
  p.activation = activation;
  p.gated = gated;
  p.gate = random_linear(intermediate, hidden, 40, with_bias);
  if (gated) p.up = random_linear(intermediate, hidden, 41, with_bias);
  p.down = random_linear(hidden, intermediate, 42, with_bias);
  p.cross = encoder_hidden > 0;
  if (p.cross) {
    p.cross_norm = random_norm(rms, hidden, 50);
    p.cross_q = random_linear(width, hidden, 51, with_bias);
    p.cross_kv = random_linear(2 * kv_width, encoder_hidden, 52, with_bias);
    p.cross_o = random_linear(hidden, width, 53, with_bias);
  }
  return p;
}

TransformerBlock build(const BlockParams& p) {
  const Tensor weights[] = {weight_of(p.q), weight_of(p.k), weight_of(p.v)};
  Tensor bias;
  if (!p.q.bias.empty()) {
    const Tensor biases[] = {bias_of(p.q), bias_of(p.k), bias_of(p.v)};
    bias = concatenate_rows(biases);
  }
  SelfAttentionWeights attention{.qkv = Linear(concatenate_rows(weights), bias, Activation::kNone),
                                 .output = make_linear(p.o, Activation::kNone, true),
                                 .norm = make_norm(p.attention_norm)};
  const Linear down = make_linear(p.down, Activation::kNone, true);
  FeedForwardWeights ffn{.ffn = p.gated ? FeedForward(make_linear(p.gate, p.activation),
                                                      make_linear(p.up, Activation::kNone), down)
                                        : FeedForward(make_linear(p.gate, p.activation), down),
                         .norm = make_norm(p.ffn_norm)};
  std::optional<CrossAttentionWeights> cross;
  if (p.cross) {
    cross = CrossAttentionWeights{.query = make_linear(p.cross_q, Activation::kNone),
                                  .key_value = make_linear(p.cross_kv, Activation::kNone),
                                  .output = make_linear(p.cross_o, Activation::kNone, true),
                                  .norm = make_norm(p.cross_norm)};
  }
  return TransformerBlock(p.spec, std::move(attention), std::move(ffn), std::move(cross));
}

bool pre(const BlockParams& p) { return p.spec.placement == NormPlacement::kPre; }

// Q, K and V of rows as the naive layer computes them: norm first under pre-norm, rotary after.
struct NaiveQkv {
  Rows q, k, v;
};

NaiveQkv naive_qkv(const BlockParams& p, const Rows& x, const std::vector<int64_t>& positions) {
  const auto rows = static_cast<int64_t>(positions.size());
  const Rows input = pre(p) ? naive_norm(x, rows, p.attention_norm) : x;
  NaiveQkv out{naive_linear(input, rows, p.q), naive_linear(input, rows, p.k),
               naive_linear(input, rows, p.v)};
  if (p.spec.rotary) {
    const AttentionSpec& a = p.spec.attention;
    naive_rotary(out.q, rows, a.n_heads, a.head_dim, positions, *p.spec.rotary);
    naive_rotary(out.k, rows, a.n_kv_heads, a.head_dim, positions, *p.spec.rotary);
  }
  return out;
}

// One encoder sequence a cross-attention reads: its states and their positions.
struct Encoder {
  Rows states;  // [rows, encoder hidden]
  std::vector<int64_t> positions;
};

// The "kept" phase of the naive layer on one sequence's rows.
Rows naive_finish(const BlockParams& p, Rows x, const Rows& context, int64_t rows,
                  const std::vector<int64_t>& positions, const Encoder* encoder) {
  const Rows projected = naive_linear(context, rows, p.o);
  for (size_t i = 0; i < x.size(); ++i) x[i] += projected[i];
  if (!pre(p)) x = naive_norm(x, rows, p.attention_norm);
  if (p.cross) {
    const Rows input = pre(p) ? naive_norm(x, rows, p.cross_norm) : x;
    const Rows queries = naive_linear(input, rows, p.cross_q);
    const auto n_memory = static_cast<int64_t>(encoder->positions.size());
    const Rows kv = naive_linear(encoder->states, n_memory, p.cross_kv);
    const int64_t kv_width = p.cross_kv.out / 2;
    Rows keys, values;
    for (int64_t r = 0; r < n_memory; ++r) {
      keys.insert(keys.end(), kv.begin() + r * 2 * kv_width, kv.begin() + r * 2 * kv_width + kv_width);
      values.insert(values.end(), kv.begin() + r * 2 * kv_width + kv_width,
                    kv.begin() + (r + 1) * 2 * kv_width);
    }
    AttentionSpec spec = p.spec.attention;
    spec.causal = false;
    const NaiveAttention attended =
        naive_attention(queries, keys, values, positions, encoder->positions, spec, nullptr);
    const Rows out = naive_linear(attended.context, rows, p.cross_o);
    for (size_t i = 0; i < x.size(); ++i) x[i] += out[i];
    if (!pre(p)) x = naive_norm(x, rows, p.cross_norm);
  }
  const Rows input = pre(p) ? naive_norm(x, rows, p.ffn_norm) : x;
  Rows inner = naive_linear(input, rows, p.gate);
  for (double& value : inner) value = reference_activation(value, p.activation);
  if (p.gated) {
    const Rows up = naive_linear(input, rows, p.up);
    for (size_t i = 0; i < inner.size(); ++i) inner[i] *= up[i];
  }
  const Rows out = naive_linear(inner, rows, p.down);
  for (size_t i = 0; i < x.size(); ++i) x[i] += out[i];
  if (!pre(p)) x = naive_norm(x, rows, p.ffn_norm);
  return x;
}

void expect_close(const float* got, const Rows& expected, const std::string& what) {
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_NEAR(got[i], expected[i], 3e-4 * std::max(1.0, std::abs(expected[i]))) << what << " element " << i;
  }
}

// A batch of sequences through one block: attend on every row, keep `kept[s]` of sequence s,
// finish on those; each phase against the naive layer. With `cached`, each sequence runs causal
// over its own KV cache, which must then hold its K and V rows; one decode step follows.
void run_block(const BlockParams& p, const std::vector<std::vector<int64_t>>& positions,
               const std::vector<std::vector<int64_t>>& kept, bool cached,
               const std::vector<Encoder>& encoders = {}) {
  const int64_t hidden = p.hidden;
  const TransformerBlock block = build(p);
  const int64_t width = block.context_width();
  std::vector<int64_t> offsets = {0};
  for (const auto& sequence : positions)
    offsets.push_back(offsets.back() + static_cast<int64_t>(sequence.size()));
  int64_t rows = offsets.back();
  std::vector<float> states = uniform(rows * hidden, 1.0f, 7);
  const std::vector<float> input = states;
  std::vector<float> context(static_cast<size_t>(rows * width), 0.0f);
  std::vector<float> scores(static_cast<size_t>(rows), -1.0f);
  // Head-major caches, as the models make them: every head's rows a block of their own.
  std::vector<LayerCache> caches(positions.size(), LayerCache(block.kv_width(), p.spec.attention.head_dim));
  std::vector<BlockSequence> sequences;
  for (size_t s = 0; s < positions.size(); ++s)
    sequences.push_back({positions[s], cached ? &caches[s] : nullptr, scores.data() + offsets[s]});
  Arena arena;
  block.attend(states.data(), rows, sequences, context.data(), arena);
  EXPECT_EQ(std::vector<float>(states), input) << "attend changed the residual stream";

  std::vector<float> kept_states, kept_context;
  std::vector<int64_t> kept_rows;
  std::vector<std::vector<int64_t>> kept_positions(positions.size());
  std::vector<Rows> naive_rows;
  for (size_t s = 0; s < positions.size(); ++s) {
    SCOPED_TRACE("sequence " + std::to_string(s));
    const auto n = static_cast<int64_t>(positions[s].size());
    const Rows x(input.begin() + offsets[s] * hidden, input.begin() + offsets[s + 1] * hidden);
    const NaiveQkv qkv = naive_qkv(p, x, positions[s]);
    const NaiveAttention attended = naive_attention(qkv.q, qkv.k, qkv.v, positions[s], positions[s],
                                                    p.spec.attention, p.spec.position_bias.get());
    expect_close(context.data() + offsets[s] * width, attended.context, "context");
    for (int64_t j = 0; j < n; ++j)
      EXPECT_NEAR(scores[static_cast<size_t>(offsets[s] + j)], attended.score[j], 1e-5)
          << "score of key " << j;
    if (cached) {
      ASSERT_EQ(caches[s].rows(), n);
      EXPECT_EQ(std::vector<int64_t>(caches[s].positions().begin(), caches[s].positions().end()),
                positions[s]);
      std::vector<float> cached_keys, cached_values;
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t c = 0; c < block.kv_width(); ++c) {
          cached_keys.push_back(caches[s].key(r, c));
          cached_values.push_back(caches[s].value(r, c));
        }
      }
      expect_close(cached_keys.data(), qkv.k, "cached keys");
      expect_close(cached_values.data(), qkv.v, "cached values");
    }
    // The naive rest of the layer on the kept rows only.
    Rows x_kept, context_kept;
    for (int64_t row : kept[s]) {
      kept_rows.push_back(offsets[s] + row);
      kept_positions[s].push_back(positions[s][row]);
      x_kept.insert(x_kept.end(), x.begin() + row * hidden, x.begin() + (row + 1) * hidden);
      context_kept.insert(context_kept.end(), attended.context.begin() + row * width,
                          attended.context.begin() + (row + 1) * width);
    }
    naive_rows.push_back(naive_finish(p, x_kept, context_kept, static_cast<int64_t>(kept[s].size()),
                                      kept_positions[s], encoders.empty() ? nullptr : &encoders[s]));
  }

  // The model's part between the phases: compact the stream and the context to the kept rows.
  compact_rows(states.data(), hidden, kept_rows);
  compact_rows(context.data(), width, kept_rows);
  rows = static_cast<int64_t>(kept_rows.size());
  std::vector<std::vector<float>> memories(encoders.size());
  std::vector<CrossMemory> cross(encoders.size());
  for (size_t s = 0; s < encoders.size(); ++s) {
    const auto n_memory = static_cast<int64_t>(encoders[s].positions.size());
    const std::vector<float> encoder_states(encoders[s].states.begin(), encoders[s].states.end());
    memories[s].resize(static_cast<size_t>(n_memory * 2 * block.kv_width()));
    block.project_memory(encoder_states.data(), n_memory, memories[s].data());
    cross[s] = CrossMemory{memories[s].data(), encoders[s].positions};
  }
  std::vector<BlockSequence> kept_sequences;
  for (size_t s = 0; s < positions.size(); ++s)
    kept_sequences.push_back({.positions = kept_positions[s], .memory = cross.empty() ? nullptr : &cross[s]});
  block.finish(states.data(), context.data(), rows, kept_sequences, arena);
  int64_t row = 0;
  for (size_t s = 0; s < positions.size(); ++s) {
    expect_close(states.data() + row * hidden, naive_rows[s],
                 "sequence " + std::to_string(s) + " after finish");
    row += static_cast<int64_t>(kept[s].size());
  }

  if (!cached) return;
  // A decode step of sequence 0: one new row attends over everything its cache holds.
  const std::vector<int64_t> step_position = {positions[0].back() + 3};
  std::vector<float> step = uniform(hidden, 1.0f, 8);
  std::vector<float> step_context(static_cast<size_t>(width));
  std::vector<float> step_scores(static_cast<size_t>(caches[0].rows() + 1));
  const BlockSequence decode{
      .positions = step_position, .cache = &caches[0], .key_scores = step_scores.data()};
  block.attend(step.data(), 1, std::span<const BlockSequence>(&decode, 1), step_context.data(), arena);
  const Rows x0(input.begin(), input.begin() + offsets[1] * hidden);
  const Rows x_step(step.begin(), step.end());
  const NaiveQkv prefix = naive_qkv(p, x0, positions[0]);
  NaiveQkv both = naive_qkv(p, x_step, step_position);
  both.k.insert(both.k.begin(), prefix.k.begin(), prefix.k.end());
  both.v.insert(both.v.begin(), prefix.v.begin(), prefix.v.end());
  std::vector<int64_t> key_positions = positions[0];
  key_positions.push_back(step_position[0]);
  const NaiveAttention attended = naive_attention(both.q, both.k, both.v, step_position, key_positions,
                                                  p.spec.attention, p.spec.position_bias.get());
  expect_close(step_context.data(), attended.context, "decode step context");
  for (size_t j = 0; j < key_positions.size(); ++j) EXPECT_NEAR(step_scores[j], attended.score[j], 1e-5) << j;
}

TransformerBlockSpec llama_like_spec() {
  return {.placement = NormPlacement::kPre,
          .attention =
              {.n_heads = 4, .n_kv_heads = 2, .head_dim = 8, .scale = 1.0f / std::sqrt(8.0f), .causal = true},
          .rotary = RotarySpec{.rotary_dim = 8, .theta = 10000.0, .interleaved = false}};
}

TEST(TransformerBlock, PreNormRmsGatedRotaryGqaOverACacheMatchesNaive) {
  // Llama's shape: RMSNorm before each sublayer, GQA (4 query heads on 2 KV heads), rotary by
  // the original positions (gapped in sequence 1, as after elimination), a SiLU-gated FFN, no
  // biases, a per-sequence KV cache.
  const BlockParams p = random_block(llama_like_spec(), 24, 40, true, true, false, Activation::kSilu);
  const std::vector<std::vector<int64_t>> positions = {{0, 1, 2, 3, 4}, {0, 2, 3, 7, 8, 11, 12}};
  {
    SCOPED_TRACE("dense");
    run_block(p, positions, {{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4, 5, 6}}, true);
  }
  {
    SCOPED_TRACE("rows kept between the phases");
    run_block(p, positions, {{0, 2, 4}, {0, 3, 6}}, true);
  }
}

TEST(TransformerBlock, PostNormLayerNormPlainFfnMatchesNaive) {
  // BERT's shape: bidirectional, biases, LayerNorm after each residual add, GELU FFN.
  const TransformerBlockSpec spec{
      .placement = NormPlacement::kPost,
      .attention = {.n_heads = 3, .n_kv_heads = 3, .head_dim = 6, .scale = 1.0f / std::sqrt(6.0f)}};
  const BlockParams p = random_block(spec, 18, 36, false, false, true, Activation::kGeluErf);
  const std::vector<std::vector<int64_t>> positions = {{0, 1, 2, 3, 4, 5}, {0, 1, 2, 3}};
  {
    SCOPED_TRACE("dense");
    run_block(p, positions, {{0, 1, 2, 3, 4, 5}, {0, 1, 2, 3}}, false);
  }
  {
    SCOPED_TRACE("rows kept between the phases");
    run_block(p, positions, {{0, 4}, {0, 1, 3}}, false);
  }
}

TEST(TransformerBlock, CrossAttentionWithPositionBiasMatchesNaive) {
  // T5's decoder shape: pre-RMSNorm, causal self-attention with a relative position bias and
  // scale 1, cross-attention to each sequence's own encoder rows (a wider encoder, its rows
  // gapped as elimination leaves them), a GELU-gated FFN.
  const TransformerBlockSpec spec{
      .placement = NormPlacement::kPre,
      .attention = {.n_heads = 2, .n_kv_heads = 2, .head_dim = 8, .scale = 1.0f, .causal = true},
      .position_bias = std::make_shared<DistanceBias>()};
  const int64_t encoder_hidden = 20;
  const BlockParams p = random_block(spec, 16, 32, true, true, false, Activation::kGeluErf, encoder_hidden);
  std::vector<Encoder> encoders(2);
  encoders[0].positions = {0, 3, 4, 9};
  encoders[1].positions = {0, 1, 5};
  for (size_t s = 0; s < 2; ++s) {
    const std::vector<float> values =
        uniform(static_cast<int64_t>(encoders[s].positions.size()) * encoder_hidden, 1.0f, 60 + s);
    encoders[s].states.assign(values.begin(), values.end());
  }
  const std::vector<std::vector<int64_t>> positions = {{0, 1, 2, 3, 4}, {0, 1, 2}};
  {
    SCOPED_TRACE("dense");
    run_block(p, positions, {{0, 1, 2, 3, 4}, {0, 1, 2}}, false, encoders);
  }
  {
    SCOPED_TRACE("rows kept between the phases");
    run_block(p, positions, {{1, 4}, {0, 2}}, false, encoders);
  }
}

TEST(TransformerBlock, MismatchedWeightsAndSequencesAreOneLineErrors) {
  BlockParams p = random_block(llama_like_spec(), 24, 40, true, true, false, Activation::kSilu);
  p.o = random_linear(24, 16, 1, false);  // reads 16 context features, the heads give 32
  const std::string shape = test_support::error_of([&] { build(p); });
  EXPECT_NE(shape.find("self-attention output has shape [24, 16], expected [24, 32]"), std::string::npos)
      << shape;

  p = random_block(llama_like_spec(), 24, 40, true, true, false, Activation::kSilu);
  p.spec.rotary->rotary_dim = 7;
  EXPECT_NE(test_support::error_of([&] { build(p); }).find("rotary_dim 7"), std::string::npos);

  p = random_block(llama_like_spec(), 24, 40, true, true, false, Activation::kSilu);
  p.ffn_norm = random_norm(true, 20, 3);
  EXPECT_NE(test_support::error_of([&] { build(p); }).find("feed-forward norm has width 20"),
            std::string::npos);

  p = random_block(llama_like_spec(), 24, 40, true, true, false, Activation::kSilu);
  const TransformerBlock block = build(p);
  const std::vector<int64_t> positions = {0, 1, 2};
  std::vector<float> states(4 * 24), context(4 * 32);
  const BlockSequence three{.positions = positions};
  Arena arena;
  const std::string rows = test_support::error_of([&] {
    block.attend(states.data(), 4, std::span<const BlockSequence>(&three, 1), context.data(), arena);
  });
  EXPECT_NE(rows.find("the sequences hold 3 rows, the states 4"), std::string::npos) << rows;
  LayerCache wrong(24);
  const BlockSequence cached{.positions = positions, .cache = &wrong};
  const std::string cache = test_support::error_of([&] {
    block.attend(states.data(), 3, std::span<const BlockSequence>(&cached, 1), context.data(), arena);
  });
  EXPECT_NE(cache.find("KV cache width 24 differs from n_kv_heads * head_dim = 16"), std::string::npos)
      << cache;
  EXPECT_THROW(block.project_memory(states.data(), 1, context.data()), InputError);
}

TEST(Arena, RewindFreesWhatFollowsTheMarkAndKeepsWhatPrecedesIt) {
  Arena arena;
  float* before = arena.allocate(100);
  before[0] = 1.5f;
  const Arena::Mark mark = arena.mark();
  float* scratch = arena.allocate(200);
  arena.rewind(mark);
  EXPECT_EQ(arena.allocate(200), scratch) << "the rewound memory is handed out again";
  EXPECT_EQ(before[0], 1.5f);

  // Nested scopes unwind in order.
  const Arena::Mark outer = arena.mark();
  float* first = arena.allocate(64);
  {
    ArenaScope scope(arena);
    arena.allocate(1000);
  }
  EXPECT_EQ(arena.allocate(16), first + 64) << "the inner scope's allocation was freed";
  arena.rewind(outer);
  EXPECT_EQ(arena.allocate(64), first);
}

TEST(Arena, ScopedLayerScratchDoesNotPileUp) {
  // A pass of 100 "layers", each with scratch larger than a block: with a scope per layer the
  // arena holds the first block and one for the scratch, not 100 of them; after reset, one block.
  Arena arena;
  arena.allocate(100);
  const size_t scratch = size_t{1} << 17;
  for (int layer = 0; layer < 100; ++layer) {
    ArenaScope scope(arena);
    arena.allocate(scratch)[scratch - 1] = 1.0f;
  }
  EXPECT_EQ(arena.block_count(), 2u);
  arena.reset();
  EXPECT_EQ(arena.block_count(), 1u);
  EXPECT_EQ(arena.capacity_bytes(), (112 + scratch) * sizeof(float))
      << "the peak: 100 floats (aligned) + one scratch";
  for (int layer = 0; layer < 100; ++layer) {
    ArenaScope scope(arena);
    arena.allocate(100);
    arena.allocate(scratch);
  }
  EXPECT_EQ(arena.block_count(), 1u) << "the second pass fits the merged block";
}

TEST(Arena, ADecodersLayersReuseTheirScratchInTheFirstPass) {
  // Each layer: a small allocation (the norm's output), then scratch larger than what is left of
  // the block (the FFN's), both in one scope. The first pass used to add a block per layer
  // (Llama-3.2-1B at 512 tokens: 16 x 33.5 MB); now the layers share two.
  Arena arena;
  arena.allocate(100);
  const size_t scratch = size_t{1} << 18;
  for (int layer = 0; layer < 16; ++layer) {
    ArenaScope scope(arena);
    arena.allocate(5000);
    float* big = arena.allocate(scratch);
    big[scratch - 1] = 1.0f;
    {
      ArenaScope inner(arena);
      arena.allocate(scratch / 2)[0] = 2.0f;  // nested scratch, as attention's
    }
  }
  EXPECT_LE(arena.block_count(), 3u);
  EXPECT_LE(arena.capacity_bytes(),
            (size_t{1} << 16) * sizeof(float) + 2 * (5008 + scratch + scratch / 2) * sizeof(float));
  // A request larger than an empty spare block replaces it, and rewinding keeps what precedes.
  const Arena::Mark mark = arena.mark();
  float* kept = arena.allocate(10);
  kept[0] = 3.0f;
  {
    ArenaScope scope(arena);
    arena.allocate(4 * scratch)[4 * scratch - 1] = 1.0f;
  }
  EXPECT_EQ(kept[0], 3.0f);
  arena.rewind(mark);
  EXPECT_EQ(arena.allocate(10), kept);
}

}  // namespace
}  // namespace latte
