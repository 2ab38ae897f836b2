// config.json through the registry (model_type), BertConfig::from_file and Gpt2Config::from_file
// (the JSON reader and every field check), then each config written back as JSON.
#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/models/bert.h"
#include "latte/models/gpt2.h"
#include "latte/models/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  fuzz::scratch().reset({{"config.json", fuzz::as_view(data, size)}});
  const std::filesystem::path path = fuzz::scratch().path() / "config.json";
  try {
    model_family(fuzz::scratch().path());
  } catch (const Error&) {
  }
  try {
    BertConfig::from_file(path).to_json().dump();
  } catch (const Error&) {
  }
  try {
    Gpt2Config::from_file(path).to_json().dump();
  } catch (const Error&) {
  }
  return 0;
}
