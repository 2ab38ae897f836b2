// Numbers as latte's messages and files write them.
#pragma once

#include <string>

namespace latte {

// As short as it reads: 3, 1.5, 0.25, 1e-05 (the stream's default precision of 6 digits).
std::string format_number(double value);

}  // namespace latte
