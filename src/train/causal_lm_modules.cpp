#include "latte/train/causal_lm_modules.h"

#include <cmath>
#include <limits>

#include "latte/core/error.h"

namespace latte::train {

CausalAttention causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const DecoderRows& rows, bool with_scores, torch::nn::DropoutImpl* dropout) {
  const int64_t batch = q.size(0), heads = q.size(1), count = q.size(2), head_dim = q.size(3);
  torch::Tensor logits = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
  // Query i sees the valid keys at original positions <= its own: within the prompt the
  // prefill's mask, for the continuation the kept prompt rows of this layer and the earlier
  // continuation rows. Padding queries see row 0 (their output is never read).
  const torch::Tensor sees =
      rows.valid.unsqueeze(1) & (rows.positions.unsqueeze(1) <= rows.positions.unsqueeze(2));
  logits = logits.masked_fill(sees.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  const torch::Tensor probabilities = torch::softmax(logits, -1);  // [batch, heads, query, key]
  CausalAttention result;
  result.context = torch::matmul(dropout ? dropout->forward(probabilities) : probabilities, v)
                       .transpose(1, 2)
                       .reshape({batch, count, heads * head_dim});
  if (with_scores) {
    // c(j) = (1/H) sum_h sum_{valid prompt queries i that see j} P[h, i, j] / (how many see j):
    // the engine's causal ACC score of a prefill over the prompt rows.
    torch::NoGradGuard no_grad;
    const int64_t prompt = rows.prompt_rows;
    const torch::Tensor query_valid = rows.valid.slice(1, 0, prompt).unsqueeze(2);  // [batch, query, 1]
    const torch::Tensor seen = (sees.slice(1, 0, prompt).slice(2, 0, prompt) & query_valid);
    const torch::Tensor column_sums =
        (probabilities.slice(2, 0, prompt).slice(3, 0, prompt) * query_valid.unsqueeze(1)).sum(2);
    const torch::Tensor seen_by = seen.sum(1).clamp_min(1).to(probabilities.dtype()).unsqueeze(1);
    result.scores = (column_sums / seen_by).mean(1);
  }
  return result;
}

CausalLMOutput CausalLMImpl::forward(const torch::Tensor& ids, int64_t prompt_length,
                                     const Planner* planner) {
  const int64_t batch = ids.size(0), length = ids.size(1);
  if (length > max_positions()) {
    throw InputError("a window has " + std::to_string(length) + " tokens; the model takes at most " +
                     std::to_string(max_positions()) + " (" + max_positions_field() + ")");
  }
  if (prompt_length < 1 || prompt_length > length) {
    throw InputError("prompt length " + std::to_string(prompt_length) + " is outside 1.." +
                     std::to_string(length));
  }
  const torch::TensorOptions long_options = torch::TensorOptions().dtype(torch::kLong).device(device());
  const torch::Tensor positions = torch::arange(length, long_options);
  CausalLMOutput output;
  DecoderRows& rows = output.rows;
  rows.hidden = embed(ids.to(device()), positions);
  rows.positions = positions.unsqueeze(0).expand({batch, length}).contiguous();
  rows.valid = torch::ones({batch, length}, torch::TensorOptions().dtype(torch::kBool).device(device()));
  rows.prompt_lengths.assign(static_cast<size_t>(batch), prompt_length);
  rows.prompt_rows = prompt_length;
  const int64_t continuation = length - prompt_length;
  output.kept.resize(static_cast<size_t>(batch));

  const bool pruning = planner != nullptr && !planner->dense();
  const std::vector<const SequencePlan*> plans(static_cast<size_t>(batch),
                                               pruning ? &planner->plan(prompt_length) : nullptr);
  for (int64_t index = 0; index < n_layers(); ++index) {
    CausalBlockImpl& layer = block(index);
    CausalAttention attention = layer.attend(rows, pruning);
    if (pruning) {
      const std::vector<int64_t> lengths_in = rows.prompt_lengths;
      const torch::Tensor prompt_index = kept_row_index(attention.scores, rows.prompt_lengths, plans, index,
                                                        planner->min_keep(), ProtectedRows::kFirstAndLast);
      if (rows.prompt_lengths != lengths_in || prompt_index.size(1) != rows.prompt_rows) {
        // Selection is not differentiated; gradients flow through the kept rows. The
        // continuation rows all stay.
        const torch::Tensor continuation_index =
            torch::arange(rows.prompt_rows, rows.prompt_rows + continuation, long_options)
                .unsqueeze(0)
                .expand({batch, continuation});
        const torch::Tensor kept_index = torch::cat({prompt_index, continuation_index}, 1);
        rows.hidden = gather_rows(rows.hidden, kept_index);
        attention.context = gather_rows(attention.context, kept_index);
        rows.positions = rows.positions.gather(1, kept_index);
        rows.prompt_rows = prompt_index.size(1);
        rows.valid = torch::cat({length_mask(rows.prompt_lengths, rows.prompt_rows, device()),
                                 torch::ones({batch, continuation}, rows.valid.options())},
                                1);
      }
    }
    for (size_t b = 0; b < rows.prompt_lengths.size(); ++b) output.kept[b].push_back(rows.prompt_lengths[b]);
    // From here on only the kept rows: output projection, residual, FFN.
    rows.hidden = layer.finish(rows.hidden, attention.context);
  }
  rows.hidden = normalize(rows.hidden);
  return output;
}

torch::Tensor CausalLMImpl::continuation_rows(const CausalLMOutput& output) {
  const DecoderRows& rows = output.rows;
  const int64_t batch = rows.hidden.size(0);
  const int64_t continuation = rows.hidden.size(1) - rows.prompt_rows;
  torch::Tensor index = torch::empty({batch, 1 + continuation}, torch::kLong);
  auto accessor = index.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    accessor[b][0] = rows.prompt_lengths[static_cast<size_t>(b)] - 1;  // the protected last prompt row
    for (int64_t i = 0; i < continuation; ++i) accessor[b][1 + i] = rows.prompt_rows + i;
  }
  return gather_rows(rows.hidden, index.to(rows.hidden.device()));
}

std::pair<torch::Tensor, torch::Tensor> CausalLMImpl::surviving_rows(const CausalLMOutput& output,
                                                                     const torch::Tensor& ids) {
  const DecoderRows& rows = output.rows;
  const torch::Tensor valid = rows.valid.to(rows.hidden.device());
  const torch::Tensor next = ids.to(rows.positions.device()).gather(1, rows.positions + 1);
  return {rows.hidden.index({valid}), next.index({rows.valid})};
}

}  // namespace latte::train
