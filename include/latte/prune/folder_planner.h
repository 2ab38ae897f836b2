// The planner of a model folder under the user's knobs: what every front end (the CLI's commands,
// the Python module) builds before it runs the folder's model.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>

#include "latte/prune/cost_model.h"
#include "latte/prune/plan.h"

namespace latte {

// A target speedup above 1 or a latency budget: only a latency table measured on this machine
// plans those truly.
bool needs_measured_latency(const Knobs& knobs);

// The planner of `knobs` (validated: Knobs::validate's errors) for a model of `shape` stored in
// `folder`. latte.json is read only when a knob is given, so a stale or broken one never blocks
// dense inference, and its calibration is checked before `latency` is asked for the latency
// model (with needs_measured_latency), so a calibration error never waits for a profile.
// Notices go to `notices` (may be null), which must outlive the planner.
std::unique_ptr<Planner> folder_planner(const Knobs& knobs, const ModelShape& shape,
                                        const std::filesystem::path& folder,
                                        const std::function<LatencyModel(bool needs_latency)>& latency,
                                        std::ostream* notices);

}  // namespace latte
