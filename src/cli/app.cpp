#include "app.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "latte/core/error.h"

namespace latte::cli {

void configure_app(CLI::App& app) {
  app.require_subcommand(1);
  app.set_version_flag("--version", "latte 0.1.0");
  app.footer(
      "Without --model, commands use the bundled default model: $LATTE_DEFAULT_MODEL when set, else\n"
      "PREFIX/share/latte/models/default beside an installed latte (cmake --install), else\n"
      "models/default of the source checkout the binary was built from.");
}

int run_app(CLI::App& app, int argc, char** argv) {
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

int exec_trainer(int argc, char** argv) {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) {
    std::cerr << "latte: error: cannot find this binary's folder (/proc/self/exe: " << error.message()
              << "), where latte-train lives\n";
    return 1;
  }
  const std::filesystem::path trainer = self.parent_path() / "latte-train";
  std::vector<char*> arguments;
  std::string program = trainer.string();
  arguments.push_back(program.data());
  for (int i = 1; i < argc; ++i) arguments.push_back(argv[i]);
  arguments.push_back(nullptr);
  ::execv(program.c_str(), arguments.data());
  const int code = errno;
  if (code == ENOENT) {
    std::cerr << "latte: error: 'latte train' runs " << program
              << ", which is not there: this build has no trainer (configure with -DLATTE_BUILD_TRAINER=ON, "
                 "which needs libtorch)\n";
  } else {
    std::cerr << "latte: error: cannot run " << program << ": " << std::strerror(code) << "\n";
  }
  return 1;
}

void add_train_placeholder(CLI::App& app) {
  app.add_subcommand(
      "train",
      "Pretrain (mlm), fine-tune with elimination (classify), or train a GPT-2 (clm), on libtorch "
      "(runs latte-train)");
}

}  // namespace latte::cli
