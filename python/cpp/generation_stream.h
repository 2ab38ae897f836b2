// generate(..., stream=True): an iterator of text pieces as the model produces them. The prompt
// runs on a worker thread that never touches Python; __next__ waits for its next piece with the
// GIL released. Dropping the iterator early ends the run at its next token.
#pragma once

#include <pybind11/pybind11.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "model.h"

namespace latte::python {

class GenerationStream {
 public:
  GenerationStream(Model& model, std::shared_ptr<PromptRunArgs> run);
  ~GenerationStream();
  GenerationStream(const GenerationStream&) = delete;
  GenerationStream& operator=(const GenerationStream&) = delete;

  // The next piece of text; StopIteration after the last one (or the run's error).
  std::string next();
  // The whole result once the iterator is exhausted; None before.
  pybind11::object result();
  // Ends the run at its next token (the iterator then stops).
  void close();

 private:
  Model* model_;
  std::shared_ptr<PromptRunArgs> run_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> pieces_;
  bool done_ = false;
  bool cancelled_ = false;
  std::exception_ptr error_;
  std::optional<PromptResult> result_;
  bool warned_ = false;
  std::thread worker_;
};

}  // namespace latte::python
