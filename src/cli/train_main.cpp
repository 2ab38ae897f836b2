// latte-train: the libtorch trainer behind `latte train` (which execs it with its arguments).
#include <CLI/CLI.hpp>

#include "app.h"
#include "common.h"

int main(int argc, char** argv) {
  CLI::App app{"latte: Transformer inference with ACC word-vector elimination", "latte"};
  latte::cli::configure_app(app);
  latte::cli::add_train_command(app);
  return latte::cli::run_app(app, argc, argv);
}
