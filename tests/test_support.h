// Shared by the unit tests: scratch folders, file helpers, and running the latte
// binary (its exit, stdout and stderr, and the one-line error every bad input must end in).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "latte/core/error.h"
#include "latte/core/linear.h"

namespace latte::test_support {

// Tests never touch the user's latency cache: every test process (and every latte it runs)
// caches under one scratch folder of the system temp dir, shared so each model shape is
// profiled once per test run. Tests about the cache itself set their own XDG_CACHE_HOME.
inline const bool kIsolatedLatencyCache = [] {
  const std::filesystem::path cache =
      std::filesystem::temp_directory_path() / ("latte_test_cache_" + std::to_string(::getuid()));
  ::setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  ::unsetenv("LATTE_NO_PROFILE");
  return true;
}();

// Runs `action` and returns the message of the latte::Error it throws; "(no error)" if none.
// Fails (and goes on) unless `text` contains `part`, showing both.
#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "missing '" << (part) << "' in: " << (text)

inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

// `count` floats drawn uniformly from [-scale, scale]; the same seed gives the same values.
inline std::vector<float> uniform(int64_t count, float scale, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> distribution(-scale, scale);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& value : values) value = distribution(generator);
  return values;
}

// Each Activation from its definition, in double: the reference the fused kernels are held to.
inline double reference_activation(double z, Activation activation) {
  switch (activation) {
    case Activation::kGeluErf:
      return 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0)));
    case Activation::kGeluTanh:
      return 0.5 * z * (1.0 + std::tanh(0.7978845608028654 * (z + 0.044715 * z * z * z)));
    case Activation::kRelu:
      return z > 0.0 ? z : 0.0;
    case Activation::kTanh:
      return std::tanh(z);
    case Activation::kSilu:
      return z / (1.0 + std::exp(-z));
    case Activation::kNone:
      break;
  }
  return z;
}

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("latte_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  bool signalled = false;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

inline void spit(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << bytes;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) lines.push_back(line);
  return lines;
}

// Runs `BINARY ARGUMENTS` with stdin_text on stdin, using `work` for the captured
// streams; `environment` is an optional `env` argument list such as "PATH=/x" or "-u NAME".
inline CommandResult run_binary(const std::filesystem::path& binary, const std::filesystem::path& work,
                                const std::string& arguments, const std::string& stdin_text = "",
                                const std::string& environment = "") {
  const std::filesystem::path out = work / "stdout.txt", err = work / "stderr.txt", in = work / "stdin.txt";
  spit(in, stdin_text);
  const std::string command = (environment.empty() ? "" : "env " + environment + " ") + binary.string() +
                              " " + arguments + " <" + in.string() + " >" + out.string() + " 2>" +
                              err.string();
  const int status = std::system(command.c_str());
  CommandResult result;
  result.signalled = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) >= 128);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

// Runs the latte binary of this build (see run_binary).
inline CommandResult run_latte(const std::filesystem::path& work, const std::string& arguments,
                               const std::string& stdin_text = "", const std::string& environment = "") {
  return run_binary(LATTE_CLI_PATH, work, arguments, stdin_text, environment);
}

// A failed command: no signal, a non-zero exit, and exactly one stderr line
// "latte: error: ..." that contains `expected`.
inline void expect_one_line_error(const CommandResult& result, const std::string& expected) {
  EXPECT_FALSE(result.signalled) << result.err;
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find(expected), std::string::npos) << "stderr: " << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << "stderr: " << result.err;
  EXPECT_EQ(result.err.rfind("latte: error: ", 0), 0u) << "stderr: " << result.err;
}

// The one-line FormatError `load` throws, which must contain every one of `expected`.
template <typename Load>
void expect_format_error(Load load, const std::vector<std::string>& expected) {
  try {
    load();
    FAIL() << "no error";
  } catch (const FormatError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    for (const std::string& part : expected) EXPECT_NE(message.find(part), std::string::npos) << message;
  }
}

}  // namespace latte::test_support
