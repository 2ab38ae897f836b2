// Error types: every failure a user can cause ends in one of these, with a
// message that names the file, tensor, field or input position.
#pragma once

#include <stdexcept>
#include <string>

namespace latte {

// Base of all latte errors; the CLI prints what() on one line and exits 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file on disk is malformed, truncated or inconsistent (checkpoint, config, vocab).
class FormatError : public Error {
 public:
  using Error::Error;
};

// A user-supplied value is invalid (flag, text, shape of an input).
class InputError : public Error {
 public:
  using Error::Error;
};

}  // namespace latte
