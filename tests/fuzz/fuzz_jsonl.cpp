// The JSONL readers: labelled inputs (the record reader on a .jsonl file, and one line straight
// into its parser), instruction data for encoder-decoders (`latte eval` / `train seq2seq`),
// results for `latte plot` (read_plot_series) and for `latte compare` (read_lm_run).
#include "fuzz_support.h"
#include "latte/core/error.h"
#include "latte/data/instruct.h"
#include "latte/data/records.h"
#include "latte/eval/lm_compare.h"
#include "latte/eval/plot.h"

namespace {

void read_lines(const std::filesystem::path& path) { latte::data::read_records(path); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte;
  const std::string_view bytes = fuzz::as_view(data, size);
  try {
    // One line straight into the parser, so short inputs reach it without the file round trip.
    data::parse_labeled_json_line(std::string(bytes), "fuzz:1");
  } catch (const Error&) {
  }
  try {
    data::parse_instruct_line(bytes, "fuzz:1");
  } catch (const Error&) {
  }
  fuzz::scratch().reset({{"inputs.jsonl", bytes}});
  try {
    read_lines(fuzz::scratch().path() / "inputs.jsonl");
  } catch (const Error&) {
  }
  try {
    data::read_instruct_examples(fuzz::scratch().path() / "inputs.jsonl");
  } catch (const Error&) {
  }
  try {
    read_plot_series(fuzz::scratch().path() / "inputs.jsonl", "fuzz", "measured_speedup", "perplexity");
  } catch (const Error&) {
  }
  try {  // y chosen from the first line, as `latte plot` without --y
    read_plot_series(fuzz::scratch().path() / "inputs.jsonl", "fuzz", "measured_speedup", "");
  } catch (const Error&) {
  }
  try {
    const LmRun run = read_lm_run(fuzz::scratch().path() / "inputs.jsonl");
    compare_lm_runs(run, run, 100);
  } catch (const Error&) {
  }
  return 0;
}
