// latte serve: the model of a folder behind HTTP (serve/server.h; docs/serving.md).
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "common.h"
#include "latte/core/error.h"
#include "latte/core/threads.h"
#include "latte/serve/server.h"

namespace latte::cli {

namespace {

bool loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// A flag's check: a finite number that `accepts` takes; else "`wanted`, got 'TEXT'".
CLI::Validator finite_number_check(bool (*accepts)(double), const std::string& wanted,
                                   const std::string& name) {
  return CLI::Validator(
      [accepts, wanted](const std::string& text) {
        double value = 0.0;
        const bool number = CLI::detail::lexical_cast(text, value);
        return number && std::isfinite(value) && accepts(value) ? std::string()
                                                                : wanted + ", got '" + text + "'";
      },
      name);
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "serve",
      "Serve a model over HTTP: /predict and KServe v2 for encoders, OpenAI's completions for decoders");
  struct Options {
    std::string model;
    std::string host = "127.0.0.1";
    int port = 8080;
    std::optional<int> threads;
    int workers = 1;
    int max_queue = 16;
    int64_t max_batch_tokens = 2048;
    int max_streams = 4;
    std::string api_key;
    int64_t max_body_kib = 1024;
    int64_t max_inputs = 256;
    bool no_profile = false;
    std::string dtype;
    std::optional<double> slo_ms;
    std::optional<double> max_speedup;
    std::optional<double> max_stall_ms;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--host", options->host, "Address to listen on (default 127.0.0.1: this machine only)");
  command->add_option("--port", options->port, "Port (default 8080; 0: a free one, printed when ready)")
      ->check(CLI::Range(0, 65535));
  add_threads_option(*command, options->threads);
  command->add_option("--workers", options->workers, "Model copies answering requests at once (default 1)")
      ->check(CLI::Range(1, 64));
  command
      ->add_option("--max-queue", options->max_queue,
                   "Requests that may wait for a worker; beyond them 503 with Retry-After (default 16)")
      ->check(CLI::Range(0, 4096));
  command
      ->add_option("--max-batch-tokens", options->max_batch_tokens,
                   "Encoders: requests waiting when a worker frees run in one packed pass with the one it "
                   "takes, up to this many word-vectors in all (default 2048; 0: one request a pass)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  command
      ->add_option("--max-streams", options->max_streams,
                   "Generation models: generations each worker decodes together, one pass over the "
                   "weights per step (default 4; 1: one at a time)")
      ->check(CLI::Range(1, 256));
  command->add_option(
      "--api-key", options->api_key,
      "Require \"Authorization: Bearer KEY\" on every route but /health (also LATTE_API_KEY)");
  command->add_option("--max-body-kib", options->max_body_kib, "Largest request body in KiB (default 1024)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  command
      ->add_option("--max-inputs", options->max_inputs,
                   "Most texts in one /predict or infer request (default 256)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  command
      ->add_option(
          "--slo-ms", options->slo_ms,
          "Latency objective in ms (arrival to answer; for generations, to the first token): requests "
          "without a knob run at the smallest speedup that meets it, and those even the fastest "
          "schedule cannot answer in time get 503")
      ->check(finite_number_check([](double value) { return value > 0.0; },
                                  "must be a positive number of milliseconds", "MS"));
  command
      ->add_option("--max-speedup", options->max_speedup,
                   "With --slo-ms: the highest speedup it chooses (a quality cap, e.g. what latte tune "
                   "--max-drop picks); requests the objective cannot answer in time even at this speedup get "
                   "503 (default: as far as the schedules reach)")
      ->check(finite_number_check([](double value) { return value >= 1.0; },
                                  "must be a speedup of at least 1", "S"));
  command
      ->add_option("--max-stall-ms", options->max_stall_ms,
                   "Generation models, continuous batching: the longest a joining generation's prefill "
                   "may hold up the streams already decoding; a prefill joining them runs a few layers at "
                   "a time, each piece within MS (at least one layer), between their steps")
      ->check(finite_number_check([](double value) { return value > 0.0; },
                                  "must be a positive number of milliseconds", "MS"));
  add_no_profile_option(*command, options->no_profile);
  add_dtype_option(*command, options->dtype);
  command->callback([options] {
    setup_threads(options->threads);
    serve::ServeOptions serve;
    serve.model_dir = model_folder(options->model);
    serve.model_name = std::filesystem::weakly_canonical(serve.model_dir).filename().string();
    serve.host = options->host;
    serve.port = options->port;
    serve.threads = num_threads();
    serve.workers = options->workers;
    serve.max_queue = options->max_queue;
    serve.max_batch_tokens = options->max_batch_tokens;
    serve.max_streams = options->max_streams;
    serve.api_key = options->api_key;
    if (serve.api_key.empty()) {
      if (const char* key = std::getenv("LATTE_API_KEY"); key != nullptr) serve.api_key = key;
    }
    if (!loopback(serve.host) && serve.api_key.empty()) {
      std::cerr
          << "latte: warning: serving on " << serve.host
          << " without an API key: anyone who can reach it can use it (--api-key KEY or LATTE_API_KEY)\n";
    }
    serve.max_body_bytes = static_cast<size_t>(options->max_body_kib) * 1024;
    serve.limits.max_inputs = static_cast<size_t>(options->max_inputs);
    serve.precision = requested_precision(options->dtype, serve.model_dir);
    serve.profile = !profiling_off(options->no_profile);
    PruneOptions prune;
    use_default_knob(prune, serve.model_dir);
    serve.default_speedup = prune.speedup;
    serve.objective_ms = options->slo_ms;
    if (options->max_speedup && !options->slo_ms) {
      throw InputError(
          "--max-speedup caps the speedups --slo-ms chooses: give --slo-ms too (a request's own \"latte\" "
          "knob is never capped)");
    }
    serve.max_speedup = options->max_speedup;
    serve.max_stall_ms = options->max_stall_ms;
    serve::run_server(serve);
  });
}

}  // namespace latte::cli
