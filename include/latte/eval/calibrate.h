// Offline measurements that make a checkpoint tunable at deploy time:
// calibration (ACC curves and keep fractions r_l(tau)). The latency table is per machine:
// latency_profile.h.
#pragma once

#include <array>
#include <cstdint>
#include <ostream>
#include <vector>

#include "latte/models/bert.h"
#include "latte/prune/plan.h"

namespace latte {

struct CalibrationReport {
  Calibration calibration;
  // Per layer: mean share of the layer's attention context carried by its top
  // 10 %, 25 % and 50 % word-vectors (dense model).
  std::vector<std::array<double, 3>> top_shares;
};

// The tau grid calibration measures (descending, from 1).
std::vector<double> default_calibration_taus();

// Runs the inputs densely (ACC curves) and in dynamic mode at every tau of the
// grid (keep fractions). Progress lines go to `progress` when not null.
CalibrationReport calibrate(BertModel& model, const std::vector<BertInput>& inputs,
                            const std::vector<double>& taus, std::ostream* progress);

}  // namespace latte
