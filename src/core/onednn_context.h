// The oneDNN engine and per-thread stream every Linear runs on (private to src/core).
#pragma once

#include <dnnl.hpp>

namespace latte {

dnnl::engine& onednn_engine();
// One per thread: a Linear is shared across threads and each runs its own calls.
dnnl::stream& onednn_stream();

}  // namespace latte
