// Latency measured on this machine (DESIGN.md section 2): per layer phase, seconds at a grid of
// row counts, interpolated; plus the fixed costs around the layers. Profiled per machine,
// thread count, model shape and dtype (src/eval/latency_profile.cpp) and cached outside the
// model folder (latency_cache.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace latte {

// Seconds of one phase at a grid of row counts: piecewise linear between grid points, made
// non-decreasing (more rows never predict less time), extrapolated along the last segment.
struct RowCurve {
  std::vector<int64_t> rows;    // ascending, >= 1
  std::vector<double> seconds;  // one per grid point

  double at(double row_count) const;
  // Isotonic regression (pool adjacent violators): the closest non-decreasing curve, so one
  // noisy sample does not lift every later point as a running maximum would.
  void make_monotone();
};

// The two phases of a layer that eliminates word-vectors between attention and the rest, timed
// inside pruning passes (the context they run in: a phase on few rows measured in a dense pass
// of that many rows came out up to 50 % cheaper than inside a pruned pass here).
// in:    on the n rows entering the layer: QKV GEMM, attention, the ACC scores and the
//        elimination itself (selection and gather of the kept rows).
// kept:  on the k rows the layer keeps: output projection, residual + norm, FFN, norm.
struct LayerLatency {
  RowCurve in;
  RowCurve kept;
};

// Wall time of each phase of one forward pass, the samples of the latency table
// (latency_table.h). OpenMP regions join before each op returns, so the clock reads
// between ops are exact.
struct PhaseTimes {
  double embeddings = 0.0;         // embeddings and their norm
  std::vector<double> layer_in;    // per layer: QKV, attention (+ ACC scores), elimination
  std::vector<double> layer_kept;  // per layer: output projection, norm, FFN, norm
  // Decoders, per layer, the part of layer_in spent in the KV-cache append and attention (the
  // rest of layer_in is the norm and the QKV projection).
  std::vector<double> layer_attention;
  double head = 0.0;  // final copy, pooler and classifier
  // Encoder-decoder models: the decoder's memory projected from the encoder's last rows (every
  // decoder layer's cross-attention keys and values).
  double memory = 0.0;
};

// Seconds since the last lap(); a no-op clock when no one asked for phase times.
class PhaseClock {
 public:
  explicit PhaseClock(bool enabled) : enabled_(enabled) {
    if (enabled_) last_ = std::chrono::steady_clock::now();
  }
  double lap() {
    if (!enabled_) return 0.0;
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return seconds;
  }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point last_;
};

// Layer kinds of a table: an encoder layer (bidirectional attention over the rows entering it) and a
// decoder layer in the prefill (causal attention; its keys and values go to the KV cache).
inline constexpr const char* kEncoderLayer = "encoder";
inline constexpr const char* kDecoderPrefillLayer = "decoder_prefill";

struct LatencyTable {
  // By layer kind: "encoder" (BERT, T5's encoder) and "decoder_prefill".
  std::map<std::string, LayerLatency> layers;
  // A whole dense pass (no scores, nothing eliminated) by n0: its phases timed in dense passes,
  // summed like a pruned prediction.
  RowCurve dense_forward;
  RowCurve embeddings;        // fixed cost by input length n0: embeddings and their norm, and all else of a
                              // pass outside the layers and the head (input checks, buffers)
  double head_seconds = 0.0;  // fixed cost: final copy, pooler and classifier
  // Encoder-decoder models, by the rows leaving the last layer: the decoder's memory, every decoder
  // layer's cross-attention keys and values projected from those rows. Empty for other models.
  RowCurve memory;
  // How busy the machine was while profiling: the highest 1-minute load average seen, and the
  // core count. A table measured while other work shared the cores is provisional.
  double profile_load = 0.0;
  int profile_cores = 0;
  bool profiled_busy() const { return profile_cores > 0 && profile_load > profile_cores; }
  // When it was profiled (seconds since the epoch; 0: unknown, a table written before this field).
  int64_t profiled_at = 0;
  // Its own check: the largest |measured / predicted - 1| over the whole passes timed right after
  // profiling; none when it was not validated (tables written before this field).
  std::optional<double> validation_error;
  // Profiles in a row that came out provisional or were found off by a timed run: bounds the
  // re-profiling of a machine or model the table cannot describe better.
  int refreshes = 0;

  // Why the table is provisional (used, but measured again on a later run), or empty when it is
  // trusted: profiled on a busy machine, not validated, or its validation error above
  // `validation_tolerance`.
  std::string provisional_reason(double validation_tolerance) const;

  // FormatError when the kind is absent.
  const LayerLatency& layer(const std::string& kind) const;
  void make_monotone();

  nlohmann::json to_json() const;
  // Validates every number (finite, non-negative, below an hour), the grids (ascending,
  // positive, matching lengths); FormatError naming `file_label` and the field.
  static LatencyTable from_json(const nlohmann::json& json, const std::string& file_label);
};

}  // namespace latte
