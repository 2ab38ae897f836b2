// A decoder's language-model evaluation at several target speedups (`latte eval --task lm`):
// windows of a text file, each target's perplexity and next-token accuracy on the continuations
// after pruned prompts (perplexity.h), and its prefill (time to first token) paired with
// adjacent dense runs (timing.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "latte/data/records.h"
#include "latte/eval/perplexity.h"
#include "latte/eval/runner.h"
#include "latte/eval/timing.h"
#include "latte/models/causal_lm.h"
#include "latte/prune/sidecar.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte {

// The passages of `path` (read as `records` say: one per line, JSONL, CSV or TSV) as one token
// stream, each followed by
// the model's end-of-text token when it has one, cut into windows of prompt_length +
// continuation_length tokens (at most max_windows, 0: all); only the passages those windows need
// are read. FieldError "prompt_length + continuation_length" when a window is longer than the
// model's positions; InputError when the text is shorter than one window.
std::vector<LmWindow> read_lm_windows(const std::string& path, const CausalLm& model,
                                      const Tokenizer& tokenizer, int64_t prompt_length,
                                      int64_t continuation_length, int64_t max_windows,
                                      const data::RecordOptions& records = {});
// The same over the passages `passages` gives (texts handed over by a front end:
// data::RecordReader::from_inputs); errors about too little text start with `source`.
std::vector<LmWindow> read_lm_windows(data::RecordReader& passages, const std::string& source,
                                      const CausalLm& model, const Tokenizer& tokenizer,
                                      int64_t prompt_length, int64_t continuation_length,
                                      int64_t max_windows);

// The most tokens whose dense pass `latency` predicts to take at most 1/speedup of the dense pass
// of n tokens (at least 1): the length a prompt or source is cut to for the truncation baseline,
// the arm a user would try first to reach the same speedup without elimination.
int64_t truncation_length(const LatencyModel& latency, const ModelShape& shape, int64_t n, double speedup);

struct LmEvalOptions {
  std::optional<PruneMode> mode;  // none: the planner's default
  // Also every speedup S > 1 reached without elimination, each prompt cut to its last
  // truncation_length(P, S) tokens and prefilled dense (targets with arm "truncate").
  bool truncation_baseline = false;
  int latency_samples = 64;         // prompts whose prefill is timed, each target paired with dense
  std::ostream* notices = nullptr;  // planner notices (each once) and the busy-machine notice
  // Gets the timed prefills against the measured latency table that planned them (not called
  // with the FLOPs prior): recheck_latency_table keeps the table true with it.
  std::function<void(const LatencyCheck&)> latency_check;
};

// What one target speedup gave.
struct LmTargetResult {
  double speedup = 1.0;
  std::string arm = "eliminate";  // "dense" at S = 1, "eliminate", or "truncate"
  int64_t prompt_tokens = 0;      // tokens prefilled (the prompt, or its cut tail)
  LmScore score;
  VariantTiming timing;            // its prefill against the adjacent dense runs
  double predicted_speedup = 1.0;  // the planner's, for the prompt length
};

struct LmEvaluation {
  size_t timed = 0;  // prompts timed
  std::vector<LmTargetResult> targets;
};

// Every target of `speedups` (1 included: a planner for S = 1, timed like the others) scored on
// all `windows` and timed on the first latency_samples prompts. The calibration in `sidecar` is
// checked against each target before `latency` is asked for.
LmEvaluation evaluate_lm_speedups(CausalLm& model, std::span<const LmWindow> windows,
                                  const std::vector<double>& speedups, const Sidecar& sidecar,
                                  const LatencySource& latency, const LmEvalOptions& options);

}  // namespace latte
