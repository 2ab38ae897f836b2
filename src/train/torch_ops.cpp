#include "latte/train/torch_ops.h"

#include <c10/core/CPUAllocator.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "latte/core/memory.h"
#include "latte/prune/keep.h"

namespace latte::train {

namespace {

// torch's CPU allocator on allocate_aligned: blocks of a huge page or more on transparent huge
// pages, the rest aligned as torch's default allocator aligns them (64 bytes).
class HugePageAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) const override {
    void* data = allocate_aligned(bytes, kAlignment);
    if (data == nullptr) throw std::bad_alloc();
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

 private:
  static constexpr size_t kAlignment = 64;
  static void release(void* data) { std::free(data); }
};

}  // namespace

bool use_huge_page_allocator() {
  static const bool installed = [] {
    // Blocks up to 1 GiB from a heap that is not handed back between steps: a step frees and
    // takes again blocks of the same sizes, which the kernel would otherwise zero afresh.
    ::mallopt(M_MMAP_THRESHOLD, 1 << 30);
    ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
    if (huge_page_bytes() == 0) return false;
    static HugePageAllocator allocator;
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
    return true;
  }();
  return installed;
}

void append_norm(const std::string& name, const torch::nn::LayerNorm& norm, NamedWeights& weights) {
  weights.emplace_back(name + ".weight", norm->weight);
  weights.emplace_back(name + ".bias", norm->bias);
}

void append_linear(const std::string& name, const torch::nn::Linear& linear, NamedWeights& weights) {
  weights.emplace_back(name + ".weight", linear->weight);
  if (linear->bias.defined()) weights.emplace_back(name + ".bias", linear->bias);
}

torch::Tensor activate(const torch::Tensor& x, const std::string& name) {
  if (name == "gelu") return torch::gelu(x);
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return torch::gelu(x, "tanh");
  return torch::relu(x);
}

torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& index) {
  return x.gather(1, index.unsqueeze(-1).expand({index.size(0), index.size(1), x.size(2)}));
}

torch::Tensor length_mask(const std::vector<int64_t>& lengths, int64_t rows, torch::Device device) {
  const torch::Tensor length_tensor = torch::tensor(lengths, torch::kLong).to(device);
  return torch::arange(rows, torch::TensorOptions().dtype(torch::kLong).device(device)).unsqueeze(0) <
         length_tensor.unsqueeze(1);
}

torch::Tensor kept_row_index(const torch::Tensor& scores, std::vector<int64_t>& lengths,
                             std::span<const SequencePlan* const> plans, int64_t layer, int64_t min_keep,
                             ProtectedRows protect) {
  const torch::Tensor scores_cpu = scores.to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t stride = scores_cpu.size(1);
  const float* data = scores_cpu.data_ptr<float>();
  std::vector<std::vector<int64_t>> kept_rows(lengths.size());
  int64_t longest = 1;
  for (size_t b = 0; b < lengths.size(); ++b) {
    const int64_t rows_in = lengths[b];
    const std::span<const float> sequence_scores(data + static_cast<int64_t>(b) * stride,
                                                 static_cast<size_t>(rows_in));
    const int64_t first_and_last[] = {0, rows_in - 1};
    const std::span<const int64_t> protected_rows =
        protect == ProtectedRows::kFirstAndLast ? std::span<const int64_t>(first_and_last)
        : protect == ProtectedRows::kFirst      ? std::span<const int64_t>(first_and_last, 1)
                                                : std::span<const int64_t>(first_and_last + 1, 1);
    kept_rows[b] = decide_kept_rows(*plans[b], layer, sequence_scores, min_keep, protected_rows);
    lengths[b] = static_cast<int64_t>(kept_rows[b].size());
    longest = std::max(longest, lengths[b]);
  }
  torch::Tensor index = torch::zeros({static_cast<int64_t>(lengths.size()), longest}, torch::kLong);
  auto accessor = index.accessor<int64_t, 2>();
  for (size_t b = 0; b < kept_rows.size(); ++b) {
    for (size_t i = 0; i < kept_rows[b].size(); ++i)
      accessor[static_cast<int64_t>(b)][static_cast<int64_t>(i)] = kept_rows[b][i];
  }
  return index.to(scores.device());
}

}  // namespace latte::train
