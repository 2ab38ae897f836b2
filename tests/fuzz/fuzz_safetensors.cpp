// model.safetensors (or an index plus one shard) through WeightStore::open, then every tensor
// read (as F32, or I8 for an int8 one). Input: a selector byte, then the file; with selector bit 0 set, the
// bytes up to the first NUL are model.safetensors.index.json and the rest its shard.
#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  if (size == 0) return 0;
  const std::string_view rest = fuzz::as_view(data + 1, size - 1);
  if (data[0] & 1) {
    const auto [index, shard] = fuzz::split_at_nul(rest);
    fuzz::scratch().reset(
        {{"model.safetensors.index.json", index}, {"model-00001-of-00001.safetensors", shard}});
  } else {
    fuzz::scratch().reset({{"model.safetensors", rest}});
  }
  try {
    const WeightStore store = WeightStore::open(fuzz::scratch().path());
    store.dtype_summary();
    store.parameter_count();
    for (const std::string& name : store.names()) {
      const TensorEntry& entry = store.entry(name);
      if (entry.dtype == DType::I8) {
        store.load_i8(name, entry.shape);
      } else {
        store.load(name, entry.shape);
      }
    }
  } catch (const Error&) {
    // A clean, typed rejection is the expected outcome for most inputs.
  }
  return 0;
}
