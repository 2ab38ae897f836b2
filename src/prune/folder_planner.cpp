#include "latte/prune/folder_planner.h"

#include <optional>
#include <utility>

#include "latte/prune/sidecar.h"

namespace latte {

bool needs_measured_latency(const Knobs& knobs) {
  return (knobs.speedup && *knobs.speedup > 1.0) || knobs.latency_ms.has_value();
}

std::unique_ptr<Planner> folder_planner(const Knobs& knobs, const ModelShape& shape,
                                        const std::filesystem::path& folder,
                                        const std::function<LatencyModel(bool needs_latency)>& latency,
                                        std::ostream* notices) {
  knobs.validate(shape.layers);
  if (!knobs.any()) return std::make_unique<Planner>(knobs, shape, std::nullopt, LatencyModel{}, notices);
  std::optional<Calibration> calibration =
      usable_calibration(knobs, Sidecar::read(folder, notices).calibration, shape.layers);
  return std::make_unique<Planner>(knobs, shape, std::move(calibration),
                                   latency(needs_measured_latency(knobs)), notices);
}

}  // namespace latte
