// The request parsers of `latte serve` (serve/requests.h): /predict, KServe v2 infer and OpenAI's
// completions and chat completions. Every body either parses or is a RequestError with an HTTP
// status of 400 or 413; nothing else may escape.
#include <cstdlib>

#include "fuzz_support.h"
#include "latte/serve/requests.h"

namespace {

template <typename Parse>
void expect_parsed_or_refused(Parse&& parse) {
  try {
    parse();
  } catch (const latte::serve::RequestError& error) {
    if (error.status() != 400 && error.status() != 413) std::abort();
    (void)latte::serve::error_body(error.what(), error.type());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latte::serve;
  const std::string_view body = latte::fuzz::as_view(data, size);
  expect_parsed_or_refused([&] { parse_predict_request(body); });
  expect_parsed_or_refused([&] { parse_infer_request(body); });
  expect_parsed_or_refused([&] { parse_completion_request(body, false); });
  expect_parsed_or_refused([&] { parse_completion_request(body, true); });
  return 0;
}
