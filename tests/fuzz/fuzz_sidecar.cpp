// latte.json through Sidecar::read (calibration, default knob and latency sections), then the
// calibration interpolated the way the planner uses it; and the default knob read on its own.
#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/prune/plan.h"
#include "latte/prune/sidecar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  fuzz::scratch().reset({{"latte.json", fuzz::as_view(data, size)}});
  try {
    const Sidecar sidecar = Sidecar::read(fuzz::scratch().path());
    if (sidecar.calibration) {
      for (const double tau : {1.0, 0.9, 0.5, 0.0}) sidecar.calibration->fractions_at(tau);
    }
  } catch (const Error&) {
  }
  try {
    Sidecar::read_default_knob(fuzz::scratch().path());
  } catch (const Error&) {
  }
  return 0;
}
