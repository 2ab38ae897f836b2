#include "latte/prune/sidecar.h"

#include <cmath>

#include "latte/core/error.h"
#include "latte/core/format.h"
#include "latte/io/file_lock.h"
#include "latte/io/json_file.h"

namespace latte {

namespace {

// Every number of latte.json is checked: finite and within [low, high].
std::vector<double> json_numbers(const nlohmann::json& json, const std::string& what,
                                 const std::string& label, double low, double high) {
  if (!json.is_array()) throw FormatError(label + ": field '" + what + "' must be a list of numbers");
  std::vector<double> values;
  for (size_t i = 0; i < json.size(); ++i) {
    const nlohmann::json& value = json[i];
    if (!value.is_number()) throw FormatError(label + ": field '" + what + "' must be a list of numbers");
    const double number = value.get<double>();
    if (!std::isfinite(number) || number < low || number > high) {
      throw FormatError(label + ": field '" + what + "' entry " + std::to_string(i) + " is " +
                        format_number(number) + "; expected a number in [" + format_number(low) + ", " +
                        format_number(high) + "]");
    }
    values.push_back(number);
  }
  return values;
}

std::vector<std::vector<double>> json_matrix(const nlohmann::json& json, const std::string& what,
                                             const std::string& label, double low, double high) {
  if (!json.is_array()) throw FormatError(label + ": field '" + what + "' must be a list of lists");
  std::vector<std::vector<double>> rows;
  for (const auto& row : json) rows.push_back(json_numbers(row, what, label, low, high));
  return rows;
}

void require_strictly_monotone(const std::vector<double>& values, bool decreasing, const std::string& what,
                               const std::string& label) {
  for (size_t i = 1; i < values.size(); ++i) {
    if (decreasing ? !(values[i] < values[i - 1]) : !(values[i] > values[i - 1])) {
      throw FormatError(label + ": field '" + what + "' must be strictly " +
                        (decreasing ? "decreasing" : "increasing") + " (entry " + std::to_string(i) + ")");
    }
  }
}

Calibration read_calibration(const nlohmann::json& section, const std::string& label) {
  if (!section.is_object()) throw FormatError(label + ": field 'calibration' must be an object");
  Calibration calibration;
  calibration.samples = json_require_int(section, "samples", label);
  if (calibration.samples < 1) {
    throw FormatError(label + ": field 'calibration.samples' must be a positive count, got " +
                      std::to_string(calibration.samples));
  }
  if (!section.contains("taus")) throw FormatError(label + ": field 'calibration.taus' is missing");
  if (!section.contains("keep_fractions")) {
    throw FormatError(label + ": field 'calibration.keep_fractions' is missing");
  }
  // taus in (0, 1]: the 1e-12 floor keeps 0 and negatives out.
  calibration.taus = json_numbers(section["taus"], "calibration.taus", label, 1e-12, 1.0);
  calibration.keep_fractions =
      json_matrix(section["keep_fractions"], "calibration.keep_fractions", label, 1e-12, 1.0);
  calibration.curve_points = json_numbers(section.value("curve_points", nlohmann::json::array()),
                                          "calibration.curve_points", label, 1e-12, 1.0);
  calibration.acc_curves = json_matrix(section.value("acc_curves", nlohmann::json::array()),
                                       "calibration.acc_curves", label, 0.0, 1.0 + 1e-6);
  if (calibration.taus.empty() || calibration.taus.size() != calibration.keep_fractions.size()) {
    throw FormatError(
        label +
        ": fields 'calibration.taus' and 'calibration.keep_fractions' must have the same, non-zero "
        "length");
  }
  if (calibration.taus.front() != 1.0)
    throw FormatError(label + ": field 'calibration.taus' must start at 1");
  require_strictly_monotone(calibration.taus, true, "calibration.taus", label);
  require_strictly_monotone(calibration.curve_points, false, "calibration.curve_points", label);
  const size_t layers = calibration.keep_fractions.front().size();
  if (layers == 0) throw FormatError(label + ": field 'calibration.keep_fractions' has empty rows");
  for (const auto& row : calibration.keep_fractions) {
    if (row.size() != layers) {
      throw FormatError(label + ": field 'calibration.keep_fractions' rows differ in length");
    }
  }
  if (!calibration.acc_curves.empty() && calibration.acc_curves.size() != layers) {
    throw FormatError(label + ": field 'calibration.acc_curves' has " +
                      std::to_string(calibration.acc_curves.size()) + " rows for " + std::to_string(layers) +
                      " layers");
  }
  for (const auto& curve : calibration.acc_curves) {
    if (curve.size() != calibration.curve_points.size()) {
      throw FormatError(label + ": field 'calibration.acc_curves' rows must have one value per curve point");
    }
  }
  return calibration;
}

// The text field `key` of the default_knob section: empty when absent; one printable line.
std::string read_knob_text(const nlohmann::json& section, const std::string& key, const std::string& label) {
  const std::string text = json_optional_string(section, key, label, "");
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw FormatError(label + ": field '" + key + "' holds a control character; expected one line of text");
  }
  return text;
}

DefaultKnob read_default_knob_section(const nlohmann::json& section, const std::string& file_label) {
  const std::string label = file_label + ": default_knob";
  if (!section.is_object()) throw FormatError(file_label + ": field 'default_knob' must be an object");
  DefaultKnob knob;
  knob.speedup = json_require_double(section, "speedup", label);
  if (!(knob.speedup >= 1.0 && knob.speedup <= DefaultKnob::kMaxDefaultSpeedup)) {
    throw FormatError(file_label + ": field 'default_knob.speedup' is " + format_number(knob.speedup) +
                      "; expected a number in [1, " + format_number(DefaultKnob::kMaxDefaultSpeedup) + "]");
  }
  knob.chosen_by = read_knob_text(section, "chosen_by", label);
  knob.measured = read_knob_text(section, "measured", label);
  return knob;
}

}  // namespace

std::optional<DefaultKnob> Sidecar::read_default_knob(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "latte.json";
  if (!std::filesystem::exists(path)) return std::nullopt;
  const nlohmann::json json = read_json_file(path);
  if (!json.is_object()) throw FormatError(path.string() + ": expected a JSON object");
  if (!json.contains("default_knob")) return std::nullopt;
  return read_default_knob_section(json["default_knob"], path.string());
}

Sidecar Sidecar::read(const std::filesystem::path& model_dir, std::ostream* notices) {
  const std::filesystem::path path = model_dir / "latte.json";
  Sidecar sidecar;
  if (!std::filesystem::exists(path)) return sidecar;
  const nlohmann::json json = read_json_file(path);
  const std::string label = path.string();
  if (!json.is_object()) throw FormatError(label + ": expected a JSON object");
  if (json.contains("calibration")) sidecar.calibration = read_calibration(json["calibration"], label);
  if (json.contains("default_knob"))
    sidecar.default_knob = read_default_knob_section(json["default_knob"], label);
  if (json.contains("latency_model") && notices) {
    *notices << "latte: notice: latte.json: ignoring latency_model fitted on another machine; latency is "
                "profiled per machine\n";
  }
  return sidecar;
}

void Sidecar::write(const std::filesystem::path& model_dir) const {
  const std::filesystem::path path = model_dir / "latte.json";
  nlohmann::json json = nlohmann::json::object();
  if (std::filesystem::exists(path)) json = read_json_file(path);
  json["latte_version"] = 1;
  if (calibration) {
    json["calibration"] = {{"samples", calibration->samples},
                           {"taus", calibration->taus},
                           {"keep_fractions", calibration->keep_fractions},
                           {"curve_points", calibration->curve_points},
                           {"acc_curves", calibration->acc_curves}};
  }
  if (default_knob) {
    json["default_knob"] = {{"speedup", default_knob->speedup},
                            {"chosen_by", default_knob->chosen_by},
                            {"measured", default_knob->measured}};
  }
  json.erase("latency_model");  // latency is profiled per machine, never stored with the model
  write_json_file_atomic(path, json);
}

void Sidecar::update(const std::filesystem::path& model_dir, const std::function<void(Sidecar&)>& change) {
  const FileLock lock(model_dir);
  Sidecar sidecar = read(model_dir);
  change(sidecar);
  sidecar.write(model_dir);
}

}  // namespace latte
