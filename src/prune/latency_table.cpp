#include "latte/prune/latency_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "latte/core/error.h"

namespace latte {

namespace {

constexpr double kLongestPhaseSeconds = 3600.0;  // anything above is not a measurement
constexpr int64_t kMostRows = int64_t{1} << 24;

nlohmann::json curve_json(const RowCurve& curve) {
  return {{"rows", curve.rows}, {"seconds", curve.seconds}};
}

const nlohmann::json& field(const nlohmann::json& object, const std::string& key, const std::string& where,
                            const std::string& label) {
  if (!object.is_object() || !object.contains(key)) {
    throw FormatError(label + ": field '" + where + key + "' is missing");
  }
  return object[key];
}

double seconds_value(const nlohmann::json& value, const std::string& name, const std::string& label) {
  if (!value.is_number()) throw FormatError(label + ": field '" + name + "' must be a number");
  const double seconds = value.get<double>();
  if (!std::isfinite(seconds) || seconds < 0.0 || seconds > kLongestPhaseSeconds) {
    throw FormatError(label + ": field '" + name + "' must be a time in seconds in [0, 3600]");
  }
  return seconds;
}

RowCurve curve_from_json(const nlohmann::json& json, const std::string& name, const std::string& label) {
  RowCurve curve;
  const nlohmann::json& rows = field(json, "rows", name + ".", label);
  const nlohmann::json& seconds = field(json, "seconds", name + ".", label);
  if (!rows.is_array() || !seconds.is_array() || rows.empty() || rows.size() != seconds.size()) {
    throw FormatError(label + ": field '" + name +
                      "' needs non-empty 'rows' and 'seconds' lists of one length");
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].is_number_integer() || rows[i].get<int64_t>() < 1 || rows[i].get<int64_t>() > kMostRows) {
      throw FormatError(label + ": field '" + name + ".rows' must hold row counts in 1.." +
                        std::to_string(kMostRows));
    }
    const int64_t row_count = rows[i].get<int64_t>();
    if (!curve.rows.empty() && row_count <= curve.rows.back()) {
      throw FormatError(label + ": field '" + name + ".rows' must be strictly ascending");
    }
    curve.rows.push_back(row_count);
    curve.seconds.push_back(seconds_value(seconds[i], name + ".seconds", label));
  }
  return curve;
}

}  // namespace

double RowCurve::at(double row_count) const {
  if (rows.empty()) return 0.0;
  const double first = static_cast<double>(rows.front());
  if (row_count <= first) return seconds.front();
  if (rows.size() == 1) return seconds.front() * row_count / first;
  // The segment [rows[upper - 1], rows[upper]] holding row_count, or the last one beyond the grid.
  const auto found = std::lower_bound(rows.begin(), rows.end(), static_cast<int64_t>(std::ceil(row_count)));
  const size_t upper = std::min<size_t>(static_cast<size_t>(found - rows.begin()), rows.size() - 1);
  const double x0 = static_cast<double>(rows[upper - 1]), x1 = static_cast<double>(rows[upper]);
  const double y0 = seconds[upper - 1], y1 = seconds[upper];
  return std::max(y0, y0 + (y1 - y0) * (row_count - x0) / (x1 - x0));
}

void RowCurve::make_monotone() {
  // Blocks of pooled points: mean and size; merge backwards while a block falls below its predecessor.
  std::vector<double> means;
  std::vector<size_t> sizes;
  for (const double value : seconds) {
    means.push_back(value);
    sizes.push_back(1);
    while (means.size() > 1 && means[means.size() - 2] > means.back()) {
      const size_t merged = sizes[sizes.size() - 2] + sizes.back();
      const double mean = (means[means.size() - 2] * static_cast<double>(sizes[sizes.size() - 2]) +
                           means.back() * static_cast<double>(sizes.back())) /
                          static_cast<double>(merged);
      means.pop_back();
      sizes.pop_back();
      means.back() = mean;
      sizes.back() = merged;
    }
  }
  size_t index = 0;
  for (size_t block = 0; block < means.size(); ++block) {
    for (size_t i = 0; i < sizes[block]; ++i) seconds[index++] = means[block];
  }
}

const LayerLatency& LatencyTable::layer(const std::string& kind) const {
  const auto found = layers.find(kind);
  if (found == layers.end()) throw FormatError("latency table has no '" + kind + "' layers");
  return found->second;
}

void LatencyTable::make_monotone() {
  for (auto& [kind, layer] : layers) {
    layer.in.make_monotone();
    layer.kept.make_monotone();
  }
  dense_forward.make_monotone();
  embeddings.make_monotone();
  memory.make_monotone();
}

nlohmann::json LatencyTable::to_json() const {
  nlohmann::json layer_json = nlohmann::json::object();
  for (const auto& [kind, layer] : layers) {
    layer_json[kind] = {{"in", curve_json(layer.in)}, {"kept", curve_json(layer.kept)}};
  }
  nlohmann::json json = {
      {"layers", layer_json},
      {"dense_forward", curve_json(dense_forward)},
      {"embeddings", curve_json(embeddings)},
      {"head_seconds", head_seconds},
      {"profile_load", profile_load},
      {"profile_cores", profile_cores},
      {"profiled_at", profiled_at},
      {"validation_error", validation_error ? nlohmann::json(*validation_error) : nlohmann::json()},
      {"refreshes", refreshes}};
  if (!memory.rows.empty()) json["memory"] = curve_json(memory);
  return json;
}

std::string LatencyTable::provisional_reason(double validation_tolerance) const {
  char text[200];
  if (profiled_busy()) {
    std::snprintf(text, sizeof(text), "profiled while the load average (%.2f) exceeded the %d cores",
                  profile_load, profile_cores);
    return text;
  }
  if (!validation_error) return "profiled without validation (an older latte)";
  if (*validation_error > validation_tolerance) {
    std::snprintf(text, sizeof(text), "its validation passes were off by up to %.0f %% (tolerance %.0f %%)",
                  100.0 * *validation_error, 100.0 * validation_tolerance);
    return text;
  }
  return "";
}

LatencyTable LatencyTable::from_json(const nlohmann::json& json, const std::string& file_label) {
  if (!json.is_object()) throw FormatError(file_label + ": the latency table must be a JSON object");
  LatencyTable table;
  const nlohmann::json& layers = field(json, "layers", "", file_label);
  if (!layers.is_object() || layers.empty()) {
    throw FormatError(file_label + ": field 'layers' must be an object of layer kinds");
  }
  for (const auto& [kind, phases] : layers.items()) {
    if (kind != kEncoderLayer && kind != kDecoderPrefillLayer) {
      throw FormatError(file_label + ": field 'layers' has an unknown layer kind '" + kind +
                        "' (known: " + kEncoderLayer + ", " + kDecoderPrefillLayer + ")");
    }
    const std::string name = "layers." + kind;
    LayerLatency layer;
    layer.in = curve_from_json(field(phases, "in", name + ".", file_label), name + ".in", file_label);
    layer.kept = curve_from_json(field(phases, "kept", name + ".", file_label), name + ".kept", file_label);
    table.layers.emplace(kind, std::move(layer));
  }
  table.dense_forward =
      curve_from_json(field(json, "dense_forward", "", file_label), "dense_forward", file_label);
  table.embeddings = curve_from_json(field(json, "embeddings", "", file_label), "embeddings", file_label);
  table.head_seconds = seconds_value(field(json, "head_seconds", "", file_label), "head_seconds", file_label);
  if (json.contains("memory")) table.memory = curve_from_json(json["memory"], "memory", file_label);
  if (json.contains("profile_load")) {
    const nlohmann::json& load = json["profile_load"];
    if (!load.is_number() || !std::isfinite(load.get<double>()) || load.get<double>() < 0.0 ||
        load.get<double>() > 1e6) {
      throw FormatError(file_label + ": field 'profile_load' must be a load average");
    }
    table.profile_load = load.get<double>();
  }
  if (json.contains("profile_cores")) {
    const nlohmann::json& cores = json["profile_cores"];
    if (!cores.is_number_integer() || cores.get<int64_t>() < 0 || cores.get<int64_t>() > (1 << 20)) {
      throw FormatError(file_label + ": field 'profile_cores' must be a core count");
    }
    table.profile_cores = static_cast<int>(cores.get<int64_t>());
  }
  // Fields added later are optional: a table without them reads as unvalidated (provisional).
  if (json.contains("profiled_at")) {
    const nlohmann::json& at = json["profiled_at"];
    if (!at.is_number_integer() || at.get<int64_t>() < 0) {
      throw FormatError(file_label + ": field 'profiled_at' must be seconds since the epoch");
    }
    table.profiled_at = at.get<int64_t>();
  }
  if (json.contains("validation_error") && !json["validation_error"].is_null()) {
    const nlohmann::json& error = json["validation_error"];
    if (!error.is_number() || !std::isfinite(error.get<double>()) || error.get<double>() < 0.0) {
      throw FormatError(file_label + ": field 'validation_error' must be a non-negative number or null");
    }
    table.validation_error = error.get<double>();
  }
  if (json.contains("refreshes")) {
    const nlohmann::json& refreshes = json["refreshes"];
    if (!refreshes.is_number_integer() || refreshes.get<int64_t>() < 0 ||
        refreshes.get<int64_t>() > 1000000) {
      throw FormatError(file_label + ": field 'refreshes' must be a count");
    }
    table.refreshes = static_cast<int>(refreshes.get<int64_t>());
  }
  table.make_monotone();
  return table;
}

}  // namespace latte
