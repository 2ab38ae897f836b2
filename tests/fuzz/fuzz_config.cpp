// config.json through BertConfig::from_file (the JSON reader and every field check), then the
// config written back as JSON.
#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/models/bert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  fuzz::scratch().reset({{"config.json", fuzz::as_view(data, size)}});
  try {
    const BertConfig config = BertConfig::from_file(fuzz::scratch().path() / "config.json");
    config.to_json().dump();
  } catch (const Error&) {
  }
  return 0;
}
