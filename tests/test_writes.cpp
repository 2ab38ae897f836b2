// Writes are atomic and symlink-safe (issue 9, classes 12-14): the atomic writer never follows
// a planted link, concurrent latte.json updates under the lock lose nothing, and a model
// folder's stale files are removed by name only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"
#include "latte/io/file_lock.h"
#include "latte/io/json_file.h"
#include "latte/io/model_folder.h"
#include "latte/prune/plan.h"
#include "latte/prune/sidecar.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::slurp;
using test_support::spit;
using test_support::TempDir;

// Entries of `dir` other than `expected`: leftovers such as temporary files.
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(AtomicWrite, ASymlinkAtTheOldTemporaryNameIsNotFollowed) {
  TempDir dir("atomic_planted_tmp");
  spit(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "model.safetensors.tmp");
  fs::create_symlink(dir / "victim", dir / "latte.json.tmp");
  write_file_atomic(dir / "model.safetensors", "weights");
  write_json_file_atomic(dir / "latte.json", nlohmann::json{{"latte_version", 1}});
  EXPECT_EQ(slurp(dir / "victim"), "precious");
  EXPECT_EQ(slurp(dir / "model.safetensors"), "weights");
  EXPECT_EQ(nlohmann::json::parse(slurp(dir / "latte.json"))["latte_version"], 1);
}

TEST(AtomicWrite, ASymlinkAtThePathIsReplacedNotFollowed) {
  TempDir dir("atomic_planted_path");
  spit(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "config.json");
  write_file_atomic(dir / "config.json", "{}\n");
  EXPECT_EQ(slurp(dir / "victim"), "precious");
  EXPECT_FALSE(fs::is_symlink(dir / "config.json"));
  EXPECT_EQ(slurp(dir / "config.json"), "{}\n");
}

TEST(AtomicWrite, LeavesNoTemporaryAndMode0644) {
  TempDir dir("atomic_clean");
  write_file_atomic(dir / "vocab.txt", "[PAD]\n");
  {
    AtomicFileWriter abandoned(dir / "tokenizer.json");
    abandoned.write("half a fi");
  }  // never committed: the temporary goes, the target never appears
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"vocab.txt"});
  struct stat info {};
  ASSERT_EQ(::stat((dir / "vocab.txt").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
}

TEST(AtomicWrite, AMissingFolderIsAnErrorNamingThePath) {
  TempDir dir("atomic_missing");
  try {
    write_file_atomic(dir / "absent" / "config.json", "{}");
    FAIL() << "expected an Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("absent/config.json"), std::string::npos) << error.what();
  }
}

TEST(AtomicWrite, ConcurrentWritersOfOneFileNeverCollide) {
  // With one fixed temporary name, two writers renamed each other's file away ("rename failed").
  TempDir dir("atomic_concurrent");
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int writer = 0; writer < 4; ++writer) {
    writers.emplace_back([&, writer] {
      for (int round = 0; round < 50; ++round) {
        try {
          write_file_atomic(dir / "latte.json", std::string(1000, static_cast<char>('a' + writer)));
        } catch (const Error&) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"latte.json"});
  EXPECT_EQ(slurp(dir / "latte.json").size(), 1000u);
}

TEST(FileLock, LocksTheFolderItselfAndCreatesNothing) {
  TempDir dir("lock_folder");
  const auto other_holder_can_lock = [&] {
    // flock locks belong to an open file description: a second open() competes like another process.
    const int descriptor = ::open(dir.path().c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_GE(descriptor, 0);
    const bool locked = ::flock(descriptor, LOCK_EX | LOCK_NB) == 0;
    ::close(descriptor);
    return locked;
  };
  {
    const FileLock lock(dir.path());
    EXPECT_FALSE(other_holder_can_lock());
    EXPECT_TRUE(names_in(dir.path()).empty());
  }
  EXPECT_TRUE(other_holder_can_lock());
}

TEST(FileLock, AMissingPathIsAnErrorNamingIt) {
  TempDir dir("lock_missing");
  EXPECT_CONTAINS(test_support::error_of([&] { FileLock lock(dir / "absent"); }), (dir / "absent").string());
}

Calibration one_layer_calibration(int64_t samples) {
  Calibration calibration;
  calibration.taus = {1.0};
  calibration.keep_fractions = {{1.0}};
  calibration.samples = samples;
  return calibration;
}

TEST(Sidecar, ConcurrentUpdatesFromTwoWritersAllSurvive) {
  // Each update is a read-modify-write; without the lock, increments (and whole sections) from
  // the other writer are lost.
  TempDir dir("sidecar_concurrent");
  Sidecar::update(dir.path(), [](Sidecar& sidecar) { sidecar.calibration = one_layer_calibration(1); });
  constexpr int kRounds = 40;
  const auto increment = [&] {
    for (int round = 0; round < kRounds; ++round) {
      Sidecar::update(dir.path(), [](Sidecar& sidecar) { ++sidecar.calibration->samples; });
    }
  };
  std::thread first(increment), second(increment);
  first.join();
  second.join();
  EXPECT_EQ(Sidecar::read(dir.path()).calibration->samples, 1 + 2 * kRounds);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"latte.json"});
}

TEST(Sidecar, UpdateKeepsOtherSectionsAndIgnoresAPlantedTemporary) {
  TempDir dir("sidecar_sections");
  spit(dir / "victim", "precious");
  fs::create_symlink(dir / "victim", dir / "latte.json.tmp");
  spit(dir / "latte.json", R"({"notes": {"owner": "someone"}})");
  Sidecar::update(dir.path(), [](Sidecar& sidecar) { sidecar.calibration = one_layer_calibration(3); });
  const Sidecar sidecar = Sidecar::read(dir.path());
  EXPECT_EQ(sidecar.calibration->samples, 3);
  EXPECT_EQ(nlohmann::json::parse(slurp(dir / "latte.json"))["notes"]["owner"], "someone");
  EXPECT_EQ(slurp(dir / "victim"), "precious");
}

TEST(ModelFolder, RemovesOnlyLatteFilesAndLinksNotTheirTargets) {
  TempDir dir("model_folder");
  const fs::path model = dir / "model";
  fs::create_directories(model / "notes");
  spit(dir / "victim", "precious");
  for (const char* name : {"config.json", "latte.json", "tokenizer.json", "model-00001-of-00002.safetensors",
                           "model.safetensors.index.json", "README.md", "model-1-of-2.safetensors"}) {
    spit(model / name, "x");
  }
  fs::create_symlink(dir / "victim", model / "vocab.txt");
  const std::vector<std::string> removed = remove_model_files(model, {"config.json"});
  EXPECT_EQ(removed,
            (std::vector<std::string>{"latte.json", "model-00001-of-00002.safetensors",
                                      "model.safetensors.index.json", "tokenizer.json", "vocab.txt"}));
  EXPECT_EQ(names_in(model),
            (std::vector<std::string>{"README.md", "config.json", "model-1-of-2.safetensors", "notes"}));
  EXPECT_EQ(slurp(dir / "victim"), "precious");
  EXPECT_FALSE(folder_is_absent_or_empty(model));
  EXPECT_TRUE(folder_is_absent_or_empty(model / "notes"));
  EXPECT_TRUE(folder_is_absent_or_empty(model / "absent"));
}

}  // namespace
}  // namespace latte
