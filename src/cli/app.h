// What both executables share: `latte` (inference, evaluation, data) and `latte-train` (the
// libtorch trainer, which `latte train` runs), so that only training pays for loading libtorch.
#pragma once

#include <CLI/CLI.hpp>

namespace latte::cli {

// An App named "latte" with the version flag.
void configure_app(CLI::App& app);

// Parses and runs `app`, turning every error into one "latte: error: ..." line: exit code 2 for
// a command-line error (naming the command and its --help, with the flag a misspelt one probably
// meant), 1 for any other. Before parsing, every option that takes values takes one per flag
// (repeat the flag for more), and commands whose --model is optional get the default-model note.
int run_app(CLI::App& app, int argc, char** argv);

// `latte train ...`: replaces this process with latte-train (beside this binary) with the same
// arguments. Returns only on failure, with an exit code after printing why.
int exec_trainer(int argc, char** argv);

// Lists `train` in `latte --help` (exec_trainer runs it before parsing).
void add_train_placeholder(CLI::App& app);

}  // namespace latte::cli
