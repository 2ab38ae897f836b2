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

// An invalid value of one named setting: what() is "FIELD PROBLEM" ("speedup must be a number
// >= 1, got 0.9"); a front end may name the setting in its own terms (a flag) before problem().
class FieldError : public InputError {
 public:
  FieldError(const std::string& field, const std::string& problem)
      : InputError(field + " " + problem), field_(field), problem_(problem) {}
  const std::string& field() const { return field_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string field_;
  std::string problem_;
};

}  // namespace latte
