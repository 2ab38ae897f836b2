#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "latte/core/error.h"
#include "latte/io/json_file.h"
#include "test_support.h"

namespace latte {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream stream(path, std::ios::binary);
  stream << text;
}

std::string format_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const FormatError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected FormatError, got another exception: " << error.what();
    return "";
  }
  ADD_FAILURE() << "expected FormatError, nothing was thrown";
  return "";
}

const nlohmann::json kConfig = nlohmann::json::parse(R"({
  "hidden_size": 768, "layer_norm_eps": 1e-12, "dropout": 0, "model_type": "bert",
  "tie_word_embeddings": true, "pad_token_id": null, "negative": -3, "ratio": 0.5,
  "huge": 18446744073709551615, "float_size": 768.0, "list": [1, 2]
})");

TEST(JsonFile, ReadsAndWritesAtomically) {
  TempDir dir("json");
  const nlohmann::json value = {{"hidden_size", 768}, {"name", "caf\u00e9"}, {"layers", {1, 2, 3}}};
  write_json_file_atomic(dir / "config.json", value);
  EXPECT_FALSE(fs::exists(dir / "config.json.tmp"));
  EXPECT_EQ(read_json_file(dir / "config.json"), value);
  std::ifstream stream(dir / "config.json");
  std::string first_lines((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  EXPECT_EQ(first_lines.substr(0, 4), "{\n  ");  // pretty, indent 2
  EXPECT_EQ(first_lines.back(), '\n');
}

TEST(JsonFile, WriteRejectsInvalidUtf8AndUnwritablePaths) {
  TempDir dir("json");
  EXPECT_THROW(write_json_file_atomic(dir / "bad.json", {{"name", std::string("\xff\xfe")}}), InputError);
  EXPECT_FALSE(fs::exists(dir / "bad.json"));
  EXPECT_THROW(write_json_file_atomic(dir / "missing_dir" / "x.json", {{"a", 1}}), Error);
}

TEST(JsonFile, NotJson) {
  TempDir dir("json");
  write_text(dir / "config.json", "{\"hidden_size\": 768,");
  const std::string message = format_error_of([&] { read_json_file(dir / "config.json"); });
  EXPECT_CONTAINS(message, (dir / "config.json").string() + ": not valid JSON: ");
  EXPECT_EQ(message.find("[json.exception"), std::string::npos) << message;
  write_text(dir / "empty.json", "");
  EXPECT_CONTAINS(format_error_of([&] { read_json_file(dir / "empty.json"); }), "empty.json: not valid JSON");
}

TEST(JsonFile, NumberBeyondDoubleIsAFormatErrorNamingTheFile) {
  // Found by fuzz_config and fuzz_sidecar: nlohmann reports 1e400 as out_of_range, not
  // parse_error, and it escaped read_json_file as an uncaught foreign exception.
  TempDir dir("json");
  write_text(dir / "latte.json", R"({"calibration": {"samples": 1e400}})");
  const std::string message = format_error_of([&] { read_json_file(dir / "latte.json"); });
  EXPECT_CONTAINS(message, (dir / "latte.json").string() + ": not valid JSON: number overflow");
  EXPECT_EQ(message.find("[json.exception"), std::string::npos) << message;
}

TEST(JsonFile, CannotRead) {
  TempDir dir("json");
  EXPECT_CONTAINS(format_error_of([&] { read_json_file(dir / "absent.json"); }),
                  "cannot read " + (dir / "absent.json").string());
  fs::create_directory(dir / "folder.json");
  EXPECT_CONTAINS(format_error_of([&] { read_json_file(dir / "folder.json"); }), "cannot read ");
}

TEST(JsonFile, RequiredFields) {
  EXPECT_EQ(json_require_int(kConfig, "hidden_size", "config.json"), 768);
  EXPECT_EQ(json_require_int(kConfig, "negative", "config.json"), -3);
  EXPECT_EQ(json_require_positive_int(kConfig, "hidden_size", "config.json"), 768);
  EXPECT_DOUBLE_EQ(json_require_double(kConfig, "layer_norm_eps", "config.json"), 1e-12);
  EXPECT_DOUBLE_EQ(json_require_double(kConfig, "dropout", "config.json"), 0.0);  // integers are numbers
  EXPECT_EQ(json_require_string(kConfig, "model_type", "config.json"), "bert");
  EXPECT_TRUE(json_require_bool(kConfig, "tie_word_embeddings", "config.json"));
}

TEST(JsonFile, MissingField) {
  EXPECT_EQ(format_error_of([&] { json_require_int(kConfig, "num_layers", "config.json"); }),
            "config.json: field 'num_layers' is missing");
  // null counts as missing for a required field
  EXPECT_EQ(format_error_of([&] { json_require_int(kConfig, "pad_token_id", "config.json"); }),
            "config.json: field 'pad_token_id' is missing");
  EXPECT_CONTAINS(format_error_of([&] { json_require_string(kConfig, "absent", "tokenizer.json"); }),
                  "tokenizer.json: field 'absent' is missing");
}

TEST(JsonFile, WrongType) {
  EXPECT_EQ(format_error_of([&] { json_require_int(kConfig, "model_type", "config.json"); }),
            "config.json: field 'model_type' must be an integer, got \"bert\"");
  EXPECT_CONTAINS(format_error_of([&] { json_require_int(kConfig, "float_size", "config.json"); }),
                  "field 'float_size' must be an integer");
  EXPECT_CONTAINS(format_error_of([&] { json_require_int(kConfig, "huge", "config.json"); }),
                  "field 'huge' must be a 64-bit integer");
  EXPECT_EQ(format_error_of([&] { json_require_positive_int(kConfig, "negative", "config.json"); }),
            "config.json: field 'negative' must be a positive integer, got -3");
  EXPECT_CONTAINS(format_error_of([&] { json_require_positive_int(kConfig, "dropout", "config.json"); }),
                  "must be a positive integer");
  EXPECT_CONTAINS(format_error_of([&] { json_require_positive_int(kConfig, "ratio", "config.json"); }),
                  "must be a positive integer");
  EXPECT_EQ(format_error_of([&] { json_require_double(kConfig, "list", "config.json"); }),
            "config.json: field 'list' must be a number, got array");
  EXPECT_CONTAINS(format_error_of([&] { json_require_string(kConfig, "hidden_size", "config.json"); }),
                  "field 'hidden_size' must be a string, got 768");
  EXPECT_CONTAINS(format_error_of([&] { json_require_bool(kConfig, "hidden_size", "config.json"); }),
                  "field 'hidden_size' must be true or false");
  EXPECT_CONTAINS(format_error_of([&] { json_require_int(kConfig, "tie_word_embeddings", "config.json"); }),
                  "must be an integer, got true");
  EXPECT_EQ(format_error_of([&] { json_require_int(nlohmann::json::array(), "x", "config.json"); }),
            "config.json: expected a JSON object, got array");
}

TEST(JsonFile, OptionalFields) {
  EXPECT_EQ(json_optional_int(kConfig, "absent", "config.json", 12), 12);
  EXPECT_EQ(json_optional_int(kConfig, "pad_token_id", "config.json", -1), -1);  // null -> fallback
  EXPECT_EQ(json_optional_int(kConfig, "hidden_size", "config.json", 12), 768);
  EXPECT_EQ(json_optional_positive_int(kConfig, "absent", "config.json", 5), 5);
  EXPECT_DOUBLE_EQ(json_optional_double(kConfig, "absent", "config.json", 0.1), 0.1);
  EXPECT_DOUBLE_EQ(json_optional_double(kConfig, "ratio", "config.json", 0.1), 0.5);
  EXPECT_EQ(json_optional_string(kConfig, "absent", "config.json", "gelu"), "gelu");
  EXPECT_EQ(json_optional_string(kConfig, "model_type", "config.json", "gelu"), "bert");
  EXPECT_FALSE(json_optional_bool(kConfig, "absent", "config.json", false));
  EXPECT_TRUE(json_optional_bool(kConfig, "tie_word_embeddings", "config.json", false));
  // Present with the wrong type is an error, not a silent fallback.
  EXPECT_CONTAINS(format_error_of([&] { json_optional_int(kConfig, "model_type", "config.json", 1); }),
                  "config.json: field 'model_type' must be an integer");
  EXPECT_CONTAINS(format_error_of([&] { json_optional_positive_int(kConfig, "negative", "config.json", 1); }),
                  "must be a positive integer");
  EXPECT_CONTAINS(format_error_of([&] { json_optional_bool(kConfig, "ratio", "config.json", true); }),
                  "field 'ratio' must be true or false, got 0.5");
}

}  // namespace
}  // namespace latte
