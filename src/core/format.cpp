#include "latte/core/format.h"

#include <sstream>

namespace latte {

std::string format_number(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

}  // namespace latte
