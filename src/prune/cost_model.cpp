#include "latte/prune/cost_model.h"

namespace latte {

LayerFlops encoder_layer_flops(int64_t rows_in, int64_t rows_kept, int64_t hidden, int64_t ffn) {
  const double n = static_cast<double>(rows_in);
  const double k = static_cast<double>(rows_kept);
  const double d = static_cast<double>(hidden);
  const double f = static_cast<double>(ffn);
  LayerFlops flops;
  flops.gemm = 6.0 * n * d * d + 2.0 * k * d * d + 4.0 * k * d * f;
  flops.attention = 4.0 * n * n * d;
  return flops;
}

}  // namespace latte
