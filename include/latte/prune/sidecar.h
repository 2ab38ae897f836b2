// latte.json, the file latte keeps beside a checkpoint: its calibration (plan.h's Calibration),
// read with every number checked, written atomically and updated under a lock.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>

#include "latte/prune/plan.h"

namespace latte {

// latte.json beside a checkpoint: calibration only. Latency is a property of the machine, not of
// the checkpoint: it is profiled per machine and cached outside the model folder.
struct Sidecar {
  std::optional<Calibration> calibration;
  // Missing file: empty sidecar. Malformed file (any number not finite or out of range, lists
  // of the wrong length, taus not decreasing): FormatError naming latte.json and the field.
  // A `latency_model` section written by older versions is ignored, with a notice.
  static Sidecar read(const std::filesystem::path& model_dir, std::ostream* notices = nullptr);
  // Writes atomically, keeping other sections already in the file (dropping `latency_model`).
  void write(const std::filesystem::path& model_dir) const;
  // Read, apply `change`, write, all under an exclusive lock on the folder itself (no lock file
  // is left in it), so two processes updating different sections both keep theirs.
  static void update(const std::filesystem::path& model_dir, const std::function<void(Sidecar&)>& change);
};

}  // namespace latte
