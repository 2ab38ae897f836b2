// `latte serve`: the models of one folder behind HTTP. Encoders (classification and regression)
// answer text-embeddings-inference's POST /predict and KServe v2's POST /v2/models/{name}/infer;
// generating models answer OpenAI's POST /v1/completions and /v1/chat/completions (streaming
// with server-sent events); every request may choose its own speedup or latency budget, and each
// answer reports what elimination did. GET /health, /metrics (Prometheus) and /v1/models.
// A front end like the CLI: requests are parsed by serve/requests.h and run through the same
// library calls as `latte classify` and `latte generate`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "latte/core/linear.h"
#include "latte/serve/requests.h"

namespace latte::serve {

struct ServeOptions {
  std::filesystem::path model_dir;
  std::string model_name;  // what /v1/models and the responses call it
  std::string host = "127.0.0.1";
  int port = 8080;     // 0: a free port, printed in the ready line
  int workers = 1;     // model copies, each answering one request at a time
  int threads = 1;     // OpenMP threads of each worker's passes
  int max_queue = 16;  // requests waiting for a worker beyond which the server answers 503
  // Encoders: the requests waiting when a worker frees run with the one it takes in one packed
  // pass (first come, first served), up to this many word-vectors in all; 0: one request a pass.
  int64_t max_batch_tokens = 2048;
  // Decoder-only models: streams each worker decodes together (continuous batching: one pass over
  // the weights per step for all); 1: one request at a time. Encoder-decoders run one at a time.
  int max_streams = 4;
  std::string api_key;  // non-empty: every route but /health needs "Authorization: Bearer KEY"
  Precision precision = Precision::kF32;
  // Measure this machine's latency table at start when none is cached (requests choosing a
  // speedup are planned from it); false: the FLOPs prior.
  bool profile = true;
  // The speedup of requests that carry no knob (latte.json's default knob); none: dense.
  std::optional<double> default_speedup;
  // A latency objective (ms, arrival to answer; for generations to the first token): requests
  // without a knob run at the smallest speedup that meets it given the line, those that even the
  // fastest schedule cannot answer in time are refused with 503 (serve/objective.h). None: off.
  std::optional<double> objective_ms;
  // Under an objective: the highest speedup it chooses (a quality cap, such as the one `latte tune
  // --max-drop` picks); requests that even this speedup cannot answer in time are refused. None:
  // as far as the schedules reach. Requests carrying their own knob keep it.
  std::optional<double> max_speedup;
  // Continuous batching: the longest a joining generation's prefill may stall the streams already
  // decoding on its worker (ms): such a prefill runs a few layers at a time, each piece within it
  // (at least one layer), one piece between two of their steps (chunked prefill). None: whole.
  std::optional<double> max_stall_ms;
  int64_t default_max_tokens = 16;  // completions without max_tokens, as OpenAI's API
  size_t max_body_bytes = size_t{1} << 20;
  RequestLimits limits;
};

// Loads the model (a copy per worker) and its latency table, binds, prints
// "latte: serving NAME on http://HOST:PORT" on stdout once ready, and answers until SIGTERM or
// SIGINT: then it stops accepting, finishes the requests in flight and returns. Error when the
// model cannot be loaded or the address bound.
void run_server(const ServeOptions& options);

}  // namespace latte::serve
