// latte.json, the file latte keeps beside a checkpoint: its calibration (plan.h's Calibration),
// read with every number checked, written atomically and updated under a lock.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "latte/prune/plan.h"

namespace latte {

// The speedup classify and generate use when no knob is given, stored by `latte tune --save`.
struct DefaultKnob {
  double speedup = 1.0;   // in [1, kMaxDefaultSpeedup]; 1 = dense
  std::string chosen_by;  // how it was chosen (the tuning command); may be empty
  std::string measured;   // what was measured when it was chosen, one line; may be empty

  static constexpr double kMaxDefaultSpeedup = 1000.0;
};

// latte.json beside a checkpoint: its calibration and default knob. Latency is a property of the
// machine, not of the checkpoint: it is profiled per machine and cached outside the model folder.
struct Sidecar {
  std::optional<Calibration> calibration;
  std::optional<DefaultKnob> default_knob;
  // Missing file: empty sidecar. Malformed file (any number not finite or out of range, lists
  // of the wrong length, taus not decreasing): FormatError naming latte.json and the field.
  // A `latency_model` section written by older versions is ignored, with a notice.
  // `default_knob`: a speedup that is not a finite number in [1, kMaxDefaultSpeedup], or texts
  // that are not strings or hold control characters, are FormatErrors naming the field too.
  static Sidecar read(const std::filesystem::path& model_dir, std::ostream* notices = nullptr);
  // Only the default knob (none without latte.json or the section), checked as read() checks it:
  // a calibration for another model never blocks a command that runs without a knob.
  static std::optional<DefaultKnob> read_default_knob(const std::filesystem::path& model_dir);
  // Writes atomically, keeping other sections already in the file (dropping `latency_model`).
  void write(const std::filesystem::path& model_dir) const;
  // Read, apply `change`, write, all under an exclusive lock on the folder itself (no lock file
  // is left in it), so two processes updating different sections both keep theirs.
  static void update(const std::filesystem::path& model_dir, const std::function<void(Sidecar&)>& change);
};

}  // namespace latte
