#include "generation_stream.h"

#include <pybind11/stl.h>

namespace py = pybind11;

namespace latte::python {

GenerationStream::GenerationStream(Model& model, std::shared_ptr<PromptRunArgs> run)
    : model_(&model), run_(std::move(run)) {
  worker_ = std::thread([this] {
    std::optional<PromptResult> result;
    std::exception_ptr error;
    try {
      std::lock_guard<std::mutex> model_lock(model_->run_mutex_);
      result = model_->run_locked(*run_, [this](int32_t, const std::string& piece) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!piece.empty()) {
          pieces_.push_back(piece);
          changed_.notify_all();
        }
        return !cancelled_;
      });
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    result_ = std::move(result);
    error_ = error;
    done_ = true;
    changed_.notify_all();
  });
}

GenerationStream::~GenerationStream() {
  close();
  // The worker never needs the GIL, so joining while holding it cannot deadlock.
  if (worker_.joinable()) worker_.join();
}

void GenerationStream::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = true;
}

std::string GenerationStream::next() {
  std::string piece;
  bool finished = false;
  std::exception_ptr error;
  {
    py::gil_scoped_release released;
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return done_ || !pieces_.empty(); });
    if (!pieces_.empty()) {
      piece = std::move(pieces_.front());
      pieces_.pop_front();
    } else {
      finished = true;
      error = error_;
      error_ = nullptr;
    }
  }
  if (!finished) return piece;
  if (!warned_) {
    warned_ = true;
    model_->warn_new_notices();
  }
  if (error) std::rethrow_exception(error);
  throw py::stop_iteration();
}

py::object GenerationStream::result() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!done_ || !result_ || !pieces_.empty()) return py::none();
  return py::cast(to_generation(*run_, *result_));
}

}  // namespace latte::python
