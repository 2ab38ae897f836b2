// Profiling the latency table of a model on this machine (DESIGN.md section 2), and finding the
// planner's latency source: the cached table, else a fresh profile, else the FLOPs prior.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "latte/models/bert.h"
#include "latte/models/causal_lm.h"
#include "latte/prune/cost_model.h"
#include "latte/prune/latency_cache.h"

namespace latte {

// 1, 2, 4, 8, 12, 16, 24, 32, 48, ... 384, 512, then x1.5 steps, up to and including max_rows.
std::vector<int64_t> default_profile_grid(int64_t max_rows);

// How long a profile made on first use (and by `latte profile` without a round count) keeps
// timing at least; a BERT-base shape takes longer than this anyway.
inline constexpr double kProfileMinSeconds = 4.0;

struct ProfileOptions {
  std::vector<int64_t> grid;  // empty: default_profile_grid(max positions)
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

// The model in `folder` (its family by model_type) loaded as a profile subject that owns it (an
// encoder's forward pass, or a decoder's prefill), with the key its table is cached under: the
// table and key the inference commands of that family read.
struct FolderProfileSubject {
  ProfileSubject subject;
  LatencyKey key;
};
FolderProfileSubject load_profile_subject(const std::filesystem::path& folder,
                                          Precision precision = Precision::kF32);

struct LatencySourceOptions {
  std::optional<std::filesystem::path> cache_dir;  // none: profile in memory
  bool allow_profile = true;                       // false: the FLOPs prior when nothing is cached
  std::ostream* notices = nullptr;
  std::ostream* progress = nullptr;
};

// The cached table for this machine and model; else, when allowed, profiles `model()` now
// (it is only called then) and caches the table; else the FLOPs prior.
LatencyModel machine_latency_model(const LatencyKey& key, const std::string& layer_kind,
                                   const std::function<ProfileSubject()>& subject,
                                   const LatencySourceOptions& options);
LatencyModel machine_latency_model(const BertConfig& config, const std::function<BertModel&()>& model,
                                   const LatencySourceOptions& options,
                                   Precision precision = Precision::kF32);

}  // namespace latte
