// The request bodies of `latte serve` (serve/server.h), parsed and validated without a model:
// text-embeddings-inference's /predict, KServe v2's /v2/models/{name}/infer and OpenAI's
// /v1/completions and /v1/chat/completions, each with latte's own "latte" object. Pure functions
// of the body text: a RequestError names the field and the HTTP status it answers with, so the
// server only maps it to a response, and a fuzzer can drive them alone (tests/fuzz).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace latte::serve {

// A request the server refuses: the HTTP status, OpenAI's error "type" and the message.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, std::string type, const std::string& message)
      : std::runtime_error(message), status_(status), type_(std::move(type)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }

 private:
  int status_;
  std::string type_;
};

// A 400 invalid_request_error.
RequestError bad_request(const std::string& message);

// {"error": {"message": MESSAGE, "type": TYPE}}, as the OpenAI API answers errors.
std::string error_body(const std::string& message, const std::string& type);

// The request's own elimination knob ("latte": {"speedup": S} or {"latency_ms": L}); neither:
// the server's default.
struct LatteKnob {
  std::optional<double> speedup;     // >= 1, finite
  std::optional<double> latency_ms;  // > 0, finite
  bool any() const { return speedup || latency_ms; }
};

// What a request may hold at most.
struct RequestLimits {
  size_t max_inputs = 256;        // texts of one /predict or /infer request
  int64_t max_new_tokens = 4096;  // max_tokens above this is refused before the model's own limit
  size_t max_stop_sequences = 4;  // as OpenAI's API
  size_t max_stop_bytes = 256;    // each stop sequence
};

// One input of /predict: a text, or a text pair (BERT's [CLS] text [SEP] text_pair [SEP]).
struct TextInput {
  std::string text;
  std::optional<std::string> pair;
  bool operator==(const TextInput&) const = default;
};

// POST /predict: {"inputs": "text" | ["t1", ...] | [["t1"], ["t2", "pair2"], ...], "raw_scores":
// bool, "truncate": bool, "latte": {...}}. The nested form is text-embeddings-inference's batch
// of texts and pairs; a flat list is a batch of texts (text-embeddings-inference reads a flat
// list of two as one pair: send [["a", "b"]] for a pair, which both read alike). raw_scores:
// logits instead of probabilities; truncate: cut over-long inputs to the model's positions
// instead of refusing them (as text-embeddings-inference does).
struct PredictRequest {
  std::vector<TextInput> inputs;
  bool single = false;  // "inputs" was one string: the answer is one list, not a list of lists
  bool raw_scores = false;
  bool truncate = false;
  LatteKnob knob;
};
PredictRequest parse_predict_request(std::string_view body, const RequestLimits& limits = {});

// POST /v2/models/{name}/infer (KServe v2 open inference protocol): one BYTES input of texts
// ("data" a list of strings, "shape" [count] or [count, 1]) and "parameters": {"latte": {...}}
// (also accepted at the top level).
struct InferRequest {
  std::string id;          // echoed back; may be empty
  std::string input_name;  // echoed as the output's name prefix
  std::vector<std::string> texts;
  LatteKnob knob;
};
InferRequest parse_infer_request(std::string_view body, const RequestLimits& limits = {});

// POST /v1/completions and /v1/chat/completions. OpenAI's fields latte does not implement are
// accepted at their defaults (so stock clients work) and refused, naming the field, when set to
// a value that would change the answer (n > 1, logprobs, echo, penalties, logit_bias, tools...).
struct CompletionRequest {
  bool chat = false;
  std::string model;                  // may be empty: the served model
  std::string prompt;                 // completions
  std::vector<int32_t> prompt_ids;    // completions: a token-id prompt ([1, 2, 3] or [[1, 2, 3]]), else empty
  std::optional<std::string> system;  // chat: the optional system message
  std::string user;                   // chat: the user message
  std::optional<int64_t> max_tokens;  // none: the server's default
  double temperature = 1.0;           // 0: greedy (OpenAI's default is 1)
  double top_p = 1.0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage
  LatteKnob knob;
  bool greedy() const { return temperature == 0.0; }
};
CompletionRequest parse_completion_request(std::string_view body, bool chat,
                                           const RequestLimits& limits = {});

}  // namespace latte::serve
