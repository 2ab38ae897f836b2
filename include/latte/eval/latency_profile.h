// Profiling the latency table of a model on this machine (DESIGN.md section 2), and finding the
// planner's latency source: the cached table, else a fresh profile, else the FLOPs prior.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "latte/eval/timing.h"
#include "latte/models/bert.h"
#include "latte/models/causal_lm.h"
#include "latte/models/seq2seq_lm.h"
#include "latte/prune/cost_model.h"
#include "latte/prune/latency_cache.h"

namespace latte {

// 1, 2, 4, 8, 12, 16, 24, 32, 48, ... 384, 512, then x1.5 steps, up to and including max_rows.
std::vector<int64_t> default_profile_grid(int64_t max_rows);

// The most rows a profile times by default: a model's positions, up to kMostProfiledRows. Llama 3
// takes 131,072 positions, whose passes would take hours (attention grows with the square);
// inputs beyond the profiled rows are predicted along the table's last segment, which
// underrates their attention.
inline constexpr int64_t kMostProfiledRows = 2048;
inline int64_t profiled_rows(int64_t max_positions) { return std::min(max_positions, kMostProfiledRows); }

// How long a profile made on first use (and by `latte profile` without a round count) keeps
// timing at least; a BERT-base shape takes longer than this anyway.
inline constexpr double kProfileMinSeconds = 4.0;
// A fresh table whose validation passes are off by more than this is provisional.
inline constexpr double kValidationTolerance = 0.15;
// Re-profiles in a row (provisional, or found off by a timed run) before a table is kept as it is.
inline constexpr int kMostRefreshes = 3;

struct ProfileOptions {
  std::vector<int64_t> grid;  // empty: default_profile_grid(profiled_rows(max positions))
  int rounds = 3;             // timed rounds; each runs a dense and a pruning pass per row count
  // More rounds (up to 64 in all) until the timed rounds took this long: a small model's phases
  // last microseconds, and a median of 3 rounds can catch one burst of another process's work.
  double min_seconds = 0.0;
  bool validate = true;  // time whole forward passes against the table's prediction
  std::ostream* progress = nullptr;
};

// A whole forward pass, timed, against the table's prediction.
struct ValidationPoint {
  int64_t n0 = 0;
  std::vector<int64_t> counts;  // word-vectors leaving each layer; all n0 = dense
  bool dense = false;
  double measured_ms = 0.0;
  double predicted_ms = 0.0;
};

struct ProfileReport {
  LatencyTable table;
  std::vector<ValidationPoint> validation;
  double seconds = 0.0;  // wall time of the whole profile
};

// The largest |measured / predicted - 1| over `points`; none when there are none.
std::optional<double> validation_error(const std::vector<ValidationPoint>& points);

// What profiling needs of a model of any family: its sizes, the layer kind its table describes,
// and one forward pass over token ids (dense when planner is null) that fills `times` when set
// and returns the word-vectors leaving each layer.
struct ProfileSubject {
  std::string layer_kind = kEncoderLayer;
  ModelShape shape;
  int64_t max_positions = 0;
  int64_t vocab_size = 0;
  std::function<std::vector<int64_t>(std::span<const int32_t> ids, const Planner* planner, PhaseTimes* times)>
      run;
};
ProfileSubject profile_subject(BertModel& model);
// A decoder's prefill from an empty KV cache: the time to first token.
ProfileSubject profile_subject(CausalLm& model);
// An encoder-decoder's encode(): its encoder (the "encoder" layer kind) and the decoder's memory
// projected from the rows leaving it (LatencyTable::memory).
ProfileSubject profile_subject(Seq2SeqLm& model);

// Times a whole dense pass at every row count of the grid (the dense curve, embeddings and
// head), then "staircase" pruning passes: starting at each grid row count, every layer keeps
// the next smaller one (and, in a second staircase, the first layer keeps everything), so the
// phases are timed inside the pruning passes they predict, each layer's phase times read from
// the forward pass. Medians over the rounds, after one untimed warm-up of every pass.
ProfileReport profile_latency(const ProfileSubject& subject, const ProfileOptions& options);
ProfileReport profile_latency(BertModel& model, const ProfileOptions& options);

// This machine, the current thread count, this model's shape, f32 compute.
LatencyKey latency_key(const BertConfig& config, Precision precision = Precision::kF32);
LatencyKey latency_key(const ModelDescription& description);
// With what the shape adds to the description (head width, relative bias, gated FFN, memory
// layers: LatencyKey's shape fields), so an encoder-decoder's encoder table is never taken for
// an encoder-only model's of the same sizes.
LatencyKey latency_key(const ModelDescription& description, const ModelShape& shape);
// An encoder-decoder's encoder: its description with its encoder's shape.
LatencyKey latency_key(Seq2SeqLm& model);

// The model in `folder` (its family by model_type) loaded as a profile subject that owns it (an
// encoder's forward pass, or a decoder's prefill), with the key its table is cached under: the
// table and key the inference commands of that family read.
struct FolderProfileSubject {
  ProfileSubject subject;
  LatencyKey key;
};
FolderProfileSubject load_profile_subject(const std::filesystem::path& folder,
                                          Precision precision = Precision::kF32);

// LATTE_NO_PROFILE set to anything but "" or "0": every front end then predicts latency from
// FLOPs, profiling nothing and reading no cached table.
bool profiling_disabled_by_environment();

struct LatencySourceOptions {
  std::optional<std::filesystem::path> cache_dir;  // none: profile in memory
  bool allow_profile = true;                       // false: the FLOPs prior when nothing is cached
  std::ostream* notices = nullptr;
  std::ostream* progress = nullptr;  // a terminal gets redraws, a log plain lines (core/progress.h)
};

// The cached table for this machine and model; else, when allowed, profiles `subject()` now
// (it is only called then) and caches the table; else the FLOPs prior. A provisional cached
// table (LatencyTable::provisional_reason) is profiled again, with a notice, unless profiling is
// not allowed, it was profiled busy and the machine is no quieter now (and still busier than its
// cores), or it was re-profiled kMostRefreshes times in a row: then it is used as it is, with a
// notice.
LatencyModel machine_latency_model(const LatencyKey& key, const std::string& layer_kind,
                                   const std::function<ProfileSubject()>& subject,
                                   const LatencySourceOptions& options);
LatencyModel machine_latency_model(const BertConfig& config, const std::function<BertModel&()>& model,
                                   const LatencySourceOptions& options,
                                   Precision precision = Precision::kF32);

// A timed run against the latency table that planned it: the table keeps itself true by these.
struct LatencyCheck {
  int64_t dense_rows = 0;           // median input length of the dense runs
  double dense_predicted_ms = 0.0;  // the table's prediction for those runs (median)
  double dense_measured_ms = 0.0;   // what they took (median)
  double dense_error = 0.0;         // median over the dense runs of measured / predicted - 1
  struct Speedup {
    double predicted = 1.0;  // mean over the timed inputs of the planner's prediction
    double measured = 1.0;   // median paired dense / pruned ratio
  };
  std::vector<Speedup> speedups;  // one per pruned target
  // The load average exceeded the cores while timing: the times then say more about the other
  // work than about the table, so nothing is judged.
  bool busy = false;
};

// How far a timed run may stray from the table: the dense pass's time (a uniform error) and each
// target's speedup (an error that differs between row counts, which scaling cannot fix).
struct LatencyTolerance {
  double dense = 0.15;
  double speedup = 0.10;
};

// `timing` (variants in the order of `planners`; a null planner is a variant without one) of
// inputs of `input_rows` word-vectors (timing.dense_inputs index it) against the table of
// `latency`, which planned them.
LatencyCheck check_timing(const PairedTiming& timing, const std::vector<int64_t>& input_rows,
                          const std::vector<const Planner*>& planners, const LatencyModel& latency,
                          const ModelShape& shape);

// What strayed furthest past `tolerance`, as a sentence ("the latency table predicted 1.60 ms for
// a dense pass of 128 rows, measured 2.10 ms (+31 %)"); none when the table held.
std::optional<std::string> latency_drift(const LatencyCheck& check, const LatencyTolerance& tolerance = {});

// After a timed run planned with the table of `key`: when it drifted past tolerance, a notice and
// a fresh profile of `subject()` cached for the next run (the run's own predictions came from the
// old table, and the notice says so); a table found off kMostRefreshes times in a row is kept,
// with a notice. When it held, the table's count of re-profiles in a row is reset.
void recheck_latency_table(const LatencyKey& key, const std::string& layer_kind,
                           const std::function<ProfileSubject()>& subject, const LatencyCheck& check,
                           const LatencySourceOptions& options);

}  // namespace latte
