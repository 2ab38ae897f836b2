// Without --model, latte finds the bundled default model wherever the binary runs from:
// $LATTE_DEFAULT_MODEL, an installed prefix (PREFIX/bin/latte with
// PREFIX/share/latte/models/default), or an out-of-tree build of this checkout.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace fs = std::filesystem;
using namespace latte::test_support;

namespace {

const fs::path kSourceModel =
    fs::path(LATTE_TEST_DATA_DIR).parent_path().parent_path() / "models" / "default";

// `info --json` run by a copy of the latte binary at `binary`, with LATTE_DEFAULT_MODEL unset.
CommandResult info_from(const fs::path& binary, const fs::path& work) {
  fs::create_directories(binary.parent_path());
  fs::copy_file(LATTE_CLI_PATH, binary, fs::copy_options::overwrite_existing);
  return run_binary(binary, work, "info --json", "", "-u LATTE_DEFAULT_MODEL");
}

}  // namespace

TEST(DefaultModel, InstalledPrefixUsesItsOwnCopy) {
  TempDir work("default_model");
  const fs::path prefix = work / "prefix";
  const fs::path installed = prefix / "share" / "latte" / "models" / "default";
  fs::create_directories(installed);
  fs::copy(kSourceModel, installed, fs::copy_options::recursive);
  const CommandResult result = info_from(prefix / "bin" / "latte", work.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["model"], installed.string());
}

TEST(DefaultModel, OutOfTreeBuildFindsItsSourceCheckout) {
  TempDir work("default_model");
  // No share/latte and no ../models beside the binary: only the checkout it was built from is left.
  const CommandResult result = info_from(work / "elsewhere" / "latte", work.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(fs::path(nlohmann::json::parse(result.out)["model"].get<std::string>()), kSourceModel);
}

TEST(DefaultModel, EnvironmentVariableWinsAndIsNotSecondGuessed) {
  TempDir work("default_model");
  const fs::path model = work / "my-model";
  fs::copy(kSourceModel, model, fs::copy_options::recursive);
  CommandResult result = run_latte(work.path(), "info --json", "", "LATTE_DEFAULT_MODEL=" + model.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["model"], model.string());
  // A wrong LATTE_DEFAULT_MODEL is an error naming it, not a silent fallback to another model.
  result = run_latte(work.path(), "info", "", "LATTE_DEFAULT_MODEL=" + (work / "missing").string());
  expect_one_line_error(result, (work / "missing").string());
}

TEST(DefaultModel, HelpSaysWhereTheModelIsLookedFor) {
  TempDir work("default_model");
  // Said by each command whose --model is optional (Cli.TheDefaultModelNoteIsOnlyWhereModelIsOptional).
  const CommandResult result = run_latte(work.path(), "classify --help");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("LATTE_DEFAULT_MODEL"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("share/latte/models/default"), std::string::npos) << result.out;
}
