#include "errors.h"

#include "latte/core/error.h"

namespace py = pybind11;

namespace latte::python {

namespace {

// Created once per process and never freed: the translator may run until the interpreter ends.
PyObject* g_error = nullptr;
PyObject* g_input_error = nullptr;
PyObject* g_format_error = nullptr;

PyObject* new_exception(py::module_& module, const char* name, PyObject* bases, const char* doc) {
  const std::string qualified = std::string(PyModule_GetName(module.ptr())) + "." + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (type == nullptr) throw py::error_already_set();
  module.attr(name) = py::handle(type);
  return type;
}

}  // namespace

void register_errors(py::module_& module) {
  g_error = new_exception(module, "Error", PyExc_Exception, "Base of latte's errors.");
  g_input_error = new_exception(
      module, "InputError", py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError)).release().ptr(),
      "An invalid input or setting (a text, a knob, a path).");
  g_format_error = new_exception(
      module, "FormatError", py::make_tuple(py::handle(g_error), py::handle(PyExc_OSError)).release().ptr(),
      "A file on disk is malformed, truncated or inconsistent (config, weights, vocab).");
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const InputError& error) {
      PyErr_SetString(g_input_error, error.what());
    } catch (const FormatError& error) {
      PyErr_SetString(g_format_error, error.what());
    } catch (const Error& error) {
      PyErr_SetString(g_error, error.what());
    }
  });
}

}  // namespace latte::python
