// latte-train: the libtorch trainer behind `latte train` (which execs it with its arguments).
#include <CLI/CLI.hpp>
#include <iostream>

#include "app.h"
#include "common.h"
#include "latte/train/trainer.h"

int main(int argc, char** argv) {
  latte::train::restart_for_openblas_core(argv, std::cerr);
  CLI::App app{"latte: Transformer inference with ACC word-vector elimination", "latte"};
  latte::cli::configure_app(app);
  latte::cli::add_train_command(app);
  return latte::cli::run_app(app, argc, argv);
}
