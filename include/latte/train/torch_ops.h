// Pieces the trainer's libtorch models share: the engine's activations, the row gather of
// elimination, and the keep decision (prune/keep.h) applied to a padded batch.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "latte/prune/plan.h"

namespace latte::train {

// Hugging Face name and the parameter tensor it is stored under.
using NamedWeights = std::vector<std::pair<std::string, torch::Tensor>>;

// NAME.weight and NAME.bias of a layer norm.
void append_norm(const std::string& name, const torch::nn::LayerNorm& norm, NamedWeights& weights);
// NAME.weight and, when it has one, NAME.bias of a linear layer.
void append_linear(const std::string& name, const torch::nn::Linear& linear, NamedWeights& weights);

// The activations the engine supports (activation_from_name in src/core/linear.cpp).
torch::Tensor activate(const torch::Tensor& x, const std::string& name);

// x [batch, rows, width] -> [batch, index rows, width]: rows index[b] of sequence b.
torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& index);

// [batch, rows] bool: true on the first lengths[b] rows of sequence b.
torch::Tensor length_mask(const std::vector<int64_t>& lengths, int64_t rows, torch::Device device);

// The rows of a sequence that elimination never drops, as the engine protects them: BERT's
// [CLS] (first), a decoder prompt's first and last tokens, T5's final </s> (last).
enum class ProtectedRows { kFirst, kFirstAndLast, kLast };

// Which rows of each sequence survive `layer`: decide_kept_rows on the first lengths[b] scores
// of row b of `scores` [batch, rows] (padding ignored), `protect` naming the rows always kept.
// Returns [batch, longest kept] row indices (padding repeats row 0) on the scores' device and
// writes the kept counts into `lengths`.
torch::Tensor kept_row_index(const torch::Tensor& scores, std::vector<int64_t>& lengths,
                             std::span<const SequencePlan* const> plans, int64_t layer, int64_t min_keep,
                             ProtectedRows protect);

// Makes torch allocate its large tensors (2 MiB and up) on transparent huge pages, and glibc keep
// blocks up to 1 GiB in a heap it does not hand back. Left to itself, glibc maps each large tensor
// afresh and the kernel zeroes it and faults it in 4 KiB at a time: page faults took a quarter of
// a training step here, then zeroing 28 % (docs/training.md). Idempotent; returns false where the
// kernel offers no transparent huge pages (the heap setting applies all the same).
bool use_huge_page_allocator();

}  // namespace latte::train
