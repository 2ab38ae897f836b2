// latte: Transformer inference whose latency is chosen at deploy time.
#include <CLI/CLI.hpp>
#include <iostream>
#include <new>
#include <string>

#include "common.h"
#include "latte/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"latte: Transformer inference with ACC word-vector elimination", "latte"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "latte 0.1.0");
  app.footer(
      "Without --model, commands use the bundled default model: $LATTE_DEFAULT_MODEL when set, else\n"
      "PREFIX/share/latte/models/default beside an installed latte (cmake --install), else\n"
      "models/default of the source checkout the binary was built from.");
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
#if LATTE_WITH_TRAINER
  latte::cli::add_train_command(app);
#endif
  latte::cli::add_data_command(app);
  latte::cli::add_eval_command(app);
  latte::cli::add_sweep_command(app);
  latte::cli::add_plot_command(app);
  try {
    if (argc > 1 && argv[1][0] != '-') {
      bool known = false;
      for (const CLI::App* command : app.get_subcommands([](CLI::App*) { return true; })) {
        known = known || command->get_name() == argv[1];
      }
      if (!known) throw CLI::ParseError(std::string("unknown command '") + argv[1] + "'", 2);
    }
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    std::cerr << "latte: error: " << error.what() << " (see latte --help)\n";
    return 2;
  } catch (const latte::Error& error) {
    std::cerr << "latte: error: " << error.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "latte: error: out of memory\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "latte: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
