// latte: Transformer inference whose latency is chosen at deploy time. `latte train` runs the
// latte-train executable, so that no other command loads libtorch (about 0.7 s of start-up).
#include <CLI/CLI.hpp>
#include <string_view>

#include "app.h"
#include "common.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "train") return latte::cli::exec_trainer(argc, argv);
  CLI::App app{"latte: Transformer inference with ACC word-vector elimination", "latte"};
  latte::cli::configure_app(app);
  latte::cli::add_info_command(app);
  latte::cli::add_tokenize_command(app);
  latte::cli::add_classify_command(app);
  latte::cli::add_generate_command(app);
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
