#include "app.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "latte/core/error.h"

namespace latte::cli {

namespace {

constexpr const char* kDefaultModelNote =
    "Without --model, this command uses the bundled default model: $LATTE_DEFAULT_MODEL when set, else\n"
    "PREFIX/share/latte/models/default beside an installed latte (cmake --install), else\n"
    "models/default of the source checkout the binary was built from.\n";

// Every command below `app`, nested ones included, parents first.
void for_each_command(CLI::App& app, const std::function<void(CLI::App&)>& visit) {
  for (CLI::App* command : app.get_subcommands([](CLI::App*) { return true; })) {
    visit(*command);
    for_each_command(*command, visit);
  }
}

// "eval", "data fetch": the words of a command after the program's name.
std::string command_path(const CLI::App& command) {
  const CLI::App* parent = command.get_parent();
  if (parent == nullptr || parent->get_parent() == nullptr) return command.get_name();
  return command_path(*parent) + " " + command.get_name();
}

// The command that was given, the deepest of nested ones; null when none was.
CLI::App* given_command(CLI::App& app) {
  const std::vector<CLI::App*> given = app.get_subcommands();
  if (given.empty()) return nullptr;
  CLI::App* deeper = given_command(*given.front());
  return deeper != nullptr ? deeper : given.front();
}

// Optimal string alignment distance: edits, with a swap of neighbours counting as one.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// The candidate nearest to `word`, if close enough to be a slip: one edit for short words, two
// from 5 letters, three from 9.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  const size_t letters = word.size() - std::min(word.find_first_not_of('-'), word.size());
  const size_t limit = letters >= 9 ? 3 : letters >= 5 ? 2 : 1;
  std::string best;
  size_t best_distance = limit + 1;
  for (const std::string& candidate : candidates) {
    const size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

// The flag names of `command` ("--speedup", "-h").
std::vector<std::string> flag_names(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
    for (const std::string& name : option->get_snames()) names.push_back("-" + name);
  }
  return names;
}

// Options that take values take one each time the flag is given (`--stop a --stop b`): a word
// after the value is the next argument, so `--stop . "Hello"` keeps Hello as the prompt.
// Positional arguments keep taking as many words as they are allowed.
void one_value_per_flag(CLI::App& command) {
  for (CLI::Option* option : command.get_options()) {
    if (!option->nonpositional() || option->get_expected_max() <= 1) continue;
    option->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }
}

// The default-model note, on the commands where --model may be left out.
void note_default_model(CLI::App& command) {
  const CLI::Option* model = command.get_option_no_throw("--model");
  if (model != nullptr && !model->get_required()) command.footer(kDefaultModelNote);
}

// Why `command` could not use the word `unknown`, a flag: the flag it probably meant, or the
// other commands that have it.
std::string unknown_flag_message(CLI::App& app, CLI::App& command, const std::string& unknown) {
  std::string message = "unknown flag " + unknown;
  const std::string meant = nearest(unknown, flag_names(command));
  if (!meant.empty()) return message + "; did you mean " + meant + "?";
  std::vector<std::string> owners;
  for_each_command(app, [&](CLI::App& other) {
    const std::vector<std::string> names = flag_names(other);
    if (&other != &command && std::find(names.begin(), names.end(), unknown) != names.end())
      owners.push_back("latte " + command_path(other));
  });
  if (owners.empty()) return message;
  std::string listed;
  for (size_t i = 0; i < owners.size(); ++i)
    listed += (i == 0 ? "" : i + 1 == owners.size() ? " and " : ", ") + owners[i];
  return unknown + " is a flag of " + listed + ", not of latte " + command_path(command);
}

// What went wrong with the words CLI11 could not place (ExtrasError), read off argv in order:
// the first unknown flag, or a word after an option's value (each option takes one).
std::string leftover_message(CLI::App& app, CLI::App& command, const std::vector<std::string>& words) {
  std::vector<std::string> leftover = app.remaining(true);
  // Skip the command's own words ("data", "fetch").
  size_t start = 0;
  std::vector<std::string> path;
  for (const CLI::App* level = &command; level->get_parent() != nullptr; level = level->get_parent())
    path.insert(path.begin(), level->get_name());
  for (const std::string& name : path) {
    while (start < words.size() && words[start] != name) ++start;
    ++start;
  }
  const CLI::Option* last_option = nullptr;  // the option whose value words[i - 1] was
  for (size_t i = start; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--") break;
    const bool option_like = word.size() > 1 && word[0] == '-' &&
                             !std::isdigit(static_cast<unsigned char>(word[1])) && word[1] != '.';
    if (option_like) {
      const std::string name = word.substr(0, word.find('='));
      const CLI::Option* option = command.get_option_no_throw(name);
      if (option == nullptr) return unknown_flag_message(app, command, name);
      last_option = nullptr;
      if (option->get_items_expected_max() > 0 && name.size() == word.size() && i + 1 < words.size()) {
        last_option = option;
        ++i;
      }
      continue;
    }
    const auto stray = std::find(leftover.begin(), leftover.end(), word);
    if (stray == leftover.end()) {
      last_option = nullptr;
      continue;  // a positional argument the command took
    }
    leftover.erase(stray);
    std::string message = "unexpected argument '" + word + "'";
    std::vector<std::string> subcommands;
    for (const CLI::App* sub : command.get_subcommands([](CLI::App*) { return true; }))
      subcommands.push_back(sub->get_name());
    if (last_option == nullptr && !subcommands.empty()) {
      const std::string meant = nearest(word, subcommands);
      return "unknown command '" + word + "'" + (meant.empty() ? "" : "; did you mean " + meant + "?");
    }
    if (last_option == nullptr) {
      const std::vector<CLI::Option*> options = command.get_options();
      const bool takes_positionals = std::any_of(
          options.begin(), options.end(), [](const CLI::Option* option) { return !option->nonpositional(); });
      return message +
             (takes_positionals ? "" : ": latte " + command_path(command) + " takes no positional arguments");
    }
    const std::string flag = last_option->get_name();
    message += " after " + flag + " " + words[i - 1] + ": " + flag + " takes one value";
    if (last_option->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll)
      return message + "; repeat " + flag + " for each value";
    // A list flag says so in its help ("Comma-separated target speedups"): show the list as one value.
    if (last_option->get_description().find("omma") != std::string::npos) {
      std::string list = words[i - 1];
      for (size_t j = i; j < words.size() && (words[j].empty() || words[j][0] != '-'); ++j)
        list += "," + words[j];
      return message + "; did you mean " + flag + " " + list + "?";
    }
    return message;
  }
  return "unexpected arguments: " + CLI::detail::join(app.remaining(true), " ");
}

// One line for a command-line error, naming the command and its help.
std::string parse_error_message(CLI::App& app, const CLI::ParseError& error, int argc, char** argv) {
  CLI::App* command = given_command(app);
  if (command == nullptr) return std::string(error.what()) + " (see latte --help)";
  const std::string path = command_path(*command);
  std::string problem = error.what();
  // Words that fit nowhere explain the error better than a flag they leave missing.
  const bool leftovers =
      dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr ||
      (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr && app.remaining_size(true) > 0);
  if (leftovers) problem = leftover_message(app, *command, std::vector<std::string>(argv + 1, argv + argc));
  return path + ": " + problem + " (see latte " + path + " --help)";
}

}  // namespace

void configure_app(CLI::App& app) {
  app.require_subcommand(1);
  app.set_version_flag("--version", "latte 0.1.0");
}

int run_app(CLI::App& app, int argc, char** argv) {
  one_value_per_flag(app);
  for_each_command(app, one_value_per_flag);
  for_each_command(app, note_default_model);
  try {
    if (argc > 1 && argv[1][0] != '-') {
      std::vector<std::string> names;
      for (const CLI::App* command : app.get_subcommands([](CLI::App*) { return true; }))
        names.push_back(command->get_name());
      if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
        const std::string meant = nearest(argv[1], names);
        throw CLI::ParseError(std::string("unknown command '") + argv[1] + "'" +
                                  (meant.empty() ? "" : "; did you mean " + meant + "?"),
                              2);
      }
    }
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    std::cerr << "latte: error: " << parse_error_message(app, error, argc, argv) << "\n";
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
  // glibc, told so at start-up, puts its heap and large blocks on transparent huge pages (with
  // 4 KiB pages a training step spent a quarter of its time in page faults), and takes blocks up
  // to 1 GiB from a heap it does not hand back, so that a step reuses the last one's memory
  // instead of the kernel zeroing fresh pages for it (28 % of a step then); docs/training.md.
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  std::string value = tunables ? tunables : "";
  for (const char* setting : {"glibc.malloc.hugetlb=1", "glibc.malloc.mmap_threshold=1073741824",
                              "glibc.malloc.trim_threshold=4294967296"}) {
    const std::string name(setting, std::strchr(setting, '='));
    if (value.find(name) == std::string::npos) value += (value.empty() ? "" : ":") + std::string(setting);
  }
  ::setenv("GLIBC_TUNABLES", value.c_str(), 1);
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
