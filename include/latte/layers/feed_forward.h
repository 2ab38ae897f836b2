// The position-wise feed-forward block of every family (DESIGN.md section 3, layers/), adding
// its output to the residual stream:
// - plain (BERT, GPT-2, T5 v1.0): residual += out(act(in(x))), the activation fused in `in`;
// - gated (Llama: SiLU, T5 v1.1: GELU): residual += down(act(gate(x)) * up(x)), the activation
//   fused in `gate`.
// The output Linear (`out`, `down`) must accumulate: that is the residual connection, fused.
#pragma once

#include <cstdint>

#include "latte/core/arena.h"
#include "latte/core/linear.h"

namespace latte {

class FeedForward {
 public:
  FeedForward() = default;
  // Plain: in [intermediate, hidden], out [hidden, intermediate].
  FeedForward(Linear in, Linear out);
  // Gated: gate and up [intermediate, hidden], down [hidden, intermediate].
  FeedForward(Linear gate, Linear up, Linear down);

  // x: [rows, hidden]; residual: [rows, hidden], incremented in place. residual may be x itself
  // (a post-norm block feeds the stream to its FFN): x is read in full before residual changes.
  // The [rows, intermediate] activations (two of them when gated) come from `arena`.
  void operator()(const float* x, int64_t rows, float* residual, Arena& arena) const;

  bool gated() const { return gated_; }
  int64_t hidden() const { return down_.out_features(); }
  int64_t intermediate() const { return down_.in_features(); }

 private:
  Linear gate_;  // plain: the `in` Linear
  Linear up_;    // gated only
  Linear down_;  // plain: the `out` Linear
  bool gated_ = false;
};

}  // namespace latte
