#include "latte/layers/feed_forward.h"

#include <string>
#include <utility>

#include "latte/core/error.h"
#include "latte/core/ops.h"

namespace latte {

namespace {

std::string shape_of(const Linear& linear) {
  return "[" + std::to_string(linear.out_features()) + ", " + std::to_string(linear.in_features()) + "]";
}

// The first Linear maps hidden -> intermediate, the last intermediate -> hidden and adds to the
// residual stream.
void check_pair(const Linear& first, const Linear& last, const char* first_name, const char* last_name) {
  if (first.in_features() != last.out_features() || first.out_features() != last.in_features()) {
    throw InputError(std::string("feed-forward ") + first_name + " has shape " + shape_of(first) + " but " +
                     last_name + " has shape " + shape_of(last));
  }
  if (!last.accumulates()) {
    throw InputError(std::string("feed-forward ") + last_name +
                     " must accumulate into the residual stream (Linear built with accumulate = true)");
  }
}

}  // namespace

FeedForward::FeedForward(Linear in, Linear out) : gate_(std::move(in)), down_(std::move(out)) {
  check_pair(gate_, down_, "in", "out");
}

FeedForward::FeedForward(Linear gate, Linear up, Linear down)
    : gate_(std::move(gate)), up_(std::move(up)), down_(std::move(down)), gated_(true) {
  check_pair(gate_, down_, "gate", "down");
  if (up_.in_features() != gate_.in_features() || up_.out_features() != gate_.out_features()) {
    throw InputError("feed-forward up has shape " + shape_of(up_) + " but gate has shape " + shape_of(gate_));
  }
}

void FeedForward::operator()(const float* x, int64_t rows, float* residual, Arena& arena) const {
  if (rows == 0) return;
  const int64_t count = rows * intermediate();
  float* activated = arena.allocate(static_cast<size_t>(count));  // [rows, intermediate]
  gate_(x, rows, activated);
  if (gated_) {
    float* up = arena.allocate(static_cast<size_t>(count));
    up_(x, rows, up);
    multiply_inplace(activated, up, count);
  }
  down_(activated, rows, residual);  // residual += ... W^T + b
}

}  // namespace latte
