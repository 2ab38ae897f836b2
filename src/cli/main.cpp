// latte: Transformer inference whose latency is chosen at deploy time. `latte train` runs the
// latte-train executable, so that no other command loads libtorch (about 0.7 s of start-up).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <string_view>

#include "app.h"
#include "common.h"
#include "latte/models/memory_check.h"

namespace {

// Model files are memory-mapped: one truncated by another process while a tensor is copied
// out raises SIGBUS. Safetensors reads check the file before each tensor; this catches the race
// left between that check and the copy, as one line instead of a crash.
extern "C" void on_bus_error(int) {
  static constexpr char kMessage[] =
      "latte: error: a model file was truncated while it was read (SIGBUS): load the model again once it is "
      "written\n";
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  ::_exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGBUS, on_bus_error);
  latte::configure_allocator();
  if (argc > 1 && std::string_view(argv[1]) == "train") return latte::cli::exec_trainer(argc, argv);
  CLI::App app{"latte: Transformer inference with ACC word-vector elimination", "latte"};
  latte::cli::configure_app(app);
  latte::cli::add_info_command(app);
  latte::cli::add_tokenize_command(app);
  latte::cli::add_classify_command(app);
  latte::cli::add_generate_command(app);
  latte::cli::add_serve_command(app);
  latte::cli::add_init_command(app);
  latte::cli::add_quantize_command(app);
  latte::cli::add_bench_command(app);
  latte::cli::add_calibrate_command(app);
  latte::cli::add_profile_command(app);
  latte::cli::add_plan_command(app);
  latte::cli::add_train_placeholder(app);
  latte::cli::add_data_command(app);
  latte::cli::add_eval_command(app);
  latte::cli::add_sweep_command(app);
  latte::cli::add_tune_command(app);
  latte::cli::add_plot_command(app);
  latte::cli::add_compare_command(app);
  return latte::cli::run_app(app, argc, argv);
}
