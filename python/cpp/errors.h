// latte's typed errors as Python exceptions: latte.Error, latte.InputError (also a ValueError) and
// latte.FormatError (also an OSError: a file on disk is malformed), with latte's one-line message.
#pragma once

#include <pybind11/pybind11.h>

namespace latte::python {

void register_errors(pybind11::module_& module);

}  // namespace latte::python
