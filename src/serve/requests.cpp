#include "latte/serve/requests.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "latte/core/error.h"
#include "latte/io/read_file.h"

namespace latte::serve {

namespace {

using nlohmann::json;

std::string preview(const json& value) { return json_preview(value); }

json parse_body(std::string_view body) {
  json parsed;
  try {
    parsed = parse_json_bounded(body, "request body", FileSource::kUser);
  } catch (const Error& error) {
    throw bad_request(error.what());
  }
  if (!parsed.is_object()) throw bad_request("request body: expected a JSON object, got " + preview(parsed));
  return parsed;
}

bool present(const json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && !found->is_null();
}

[[noreturn]] void wrong_type(const std::string& field, const char* expected, const json& value) {
  throw bad_request("'" + field + "' must be " + expected + ", got " + preview(value));
}

bool read_bool(const json& object, const char* key, bool fallback) {
  if (!present(object, key)) return fallback;
  const json& value = object.at(key);
  if (!value.is_boolean()) wrong_type(key, "true or false", value);
  return value.get<bool>();
}

std::optional<double> read_number(const json& object, const std::string& field, const char* key) {
  if (!present(object, key)) return std::nullopt;
  const json& value = object.at(key);
  if (!value.is_number()) wrong_type(field, "a number", value);
  const double number = value.get<double>();
  if (!std::isfinite(number)) wrong_type(field, "a finite number", value);
  return number;
}

std::optional<int64_t> read_integer(const json& object, const char* key) {
  if (!present(object, key)) return std::nullopt;
  const json& value = object.at(key);
  if (value.is_number_unsigned()) {
    if (value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) wrong_type(key, "a 64-bit integer", value);
    return static_cast<int64_t>(value.get<uint64_t>());
  }
  if (!value.is_number_integer()) wrong_type(key, "an integer", value);
  return value.get<int64_t>();
}

// OpenAI's fields latte does not implement: at the default (or null) they are accepted.
void refuse_unless(const json& object, const char* key, bool is_default, const std::string& why) {
  if (present(object, key) && !is_default) {
    throw bad_request("'" + std::string(key) + "' is not supported by latte (" + why + "), got " +
                      preview(object.at(key)));
  }
}

void refuse_unless_number(const json& object, const char* key, double fallback, const std::string& why) {
  const bool is_default =
      !present(object, key) || (object.at(key).is_number() && object.at(key).get<double>() == fallback);
  refuse_unless(object, key, is_default, why);
}

LatteKnob read_knob(const json& object) {
  LatteKnob knob;
  if (!present(object, "latte")) return knob;
  const json& latte = object.at("latte");
  if (!latte.is_object()) wrong_type("latte", "an object like {\"speedup\": 2}", latte);
  for (const auto& [key, value] : latte.items()) {
    if (key != "speedup" && key != "latency_ms") {
      throw bad_request("'latte' has an unknown field '" + key + "' (known: speedup, latency_ms)");
    }
  }
  knob.speedup = read_number(latte, "latte.speedup", "speedup");
  knob.latency_ms = read_number(latte, "latte.latency_ms", "latency_ms");
  if (knob.speedup && knob.latency_ms) throw bad_request("'latte': give speedup or latency_ms, not both");
  if (knob.speedup && *knob.speedup < 1.0) {
    throw bad_request("'latte.speedup' must be a number >= 1 (1 = dense), got " +
                      preview(latte.at("speedup")));
  }
  if (knob.latency_ms && *knob.latency_ms <= 0.0) {
    throw bad_request("'latte.latency_ms' must be a number > 0, got " + preview(latte.at("latency_ms")));
  }
  return knob;
}

std::vector<std::string> read_texts(const json& value, const std::string& field,
                                    const RequestLimits& limits) {
  if (!value.is_array()) wrong_type(field, "a string or a list of strings", value);
  if (value.empty()) throw bad_request("'" + field + "' is empty: give at least one text");
  if (value.size() > limits.max_inputs) {
    throw RequestError(413, "invalid_request_error",
                       "'" + field + "' has " + std::to_string(value.size()) + " texts, above the limit of " +
                           std::to_string(limits.max_inputs) + " per request");
  }
  std::vector<std::string> texts;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) {
      wrong_type(field + "[" + std::to_string(i) + "]",
                 "a string (a batch of pairs is [[text, text_pair], ...])", value[i]);
    }
    texts.push_back(value[i].get<std::string>());
  }
  return texts;
}

// text-embeddings-inference's batch: [[text], [text, text_pair], ...].
std::vector<TextInput> read_text_inputs(const json& value, const std::string& field,
                                        const RequestLimits& limits) {
  if (!value.is_array() || value.empty() || !value[0].is_array()) {
    std::vector<TextInput> inputs;
    for (std::string& text : read_texts(value, field, limits))
      inputs.push_back({std::move(text), std::nullopt});
    return inputs;
  }
  if (value.size() > limits.max_inputs) {
    throw RequestError(413, "invalid_request_error",
                       "'" + field + "' has " + std::to_string(value.size()) +
                           " inputs, above the limit of " + std::to_string(limits.max_inputs) +
                           " per request");
  }
  std::vector<TextInput> inputs;
  for (size_t i = 0; i < value.size(); ++i) {
    const json& input = value[i];
    const bool text_or_pair = input.is_array() && (input.size() == 1 || input.size() == 2) &&
                              input[0].is_string() && (input.size() == 1 || input[1].is_string());
    if (!text_or_pair) {
      wrong_type(field + "[" + std::to_string(i) + "]",
                 "[text] or [text, text_pair] (as inputs[0] is a list)", input);
    }
    inputs.push_back(
        {input[0].get<std::string>(),
         input.size() == 2 ? std::optional<std::string>(input[1].get<std::string>()) : std::nullopt});
  }
  return inputs;
}

// A token-id prompt: [id, ...] or one such list in a list.
std::vector<int32_t> read_prompt_ids(const json& prompt) {
  const bool nested = prompt.size() == 1 && prompt[0].is_array();
  const json& ids = nested ? prompt[0] : prompt;
  if (!nested && prompt.size() > 1 && prompt[0].is_array()) {
    throw bad_request("'prompt': latte answers one prompt per request, got " + std::to_string(prompt.size()));
  }
  if (ids.empty()) throw bad_request("'prompt' is empty (no tokens)");
  std::vector<int32_t> parsed;
  parsed.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& id = ids[i];
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX ||
        (id.is_number_unsigned() && id.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX))) {
      wrong_type(std::string("prompt") + (nested ? "[0]" : "") + "[" + std::to_string(i) + "]",
                 "a token id (an integer >= 0)", id);
    }
    parsed.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  return parsed;
}

std::string message_content(const json& message, size_t index) {
  const std::string field = "messages[" + std::to_string(index) + "].content";
  if (!message.contains("content")) throw bad_request("'" + field + "' is missing");
  const json& content = message.at("content");
  if (content.is_string()) return content.get<std::string>();
  // The list form: text parts only.
  if (!content.is_array()) wrong_type(field, "a string or a list of text parts", content);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string part_field = field + "[" + std::to_string(i) + "]";
    if (!part.is_object() || !part.contains("type") || part.at("type") != "text" || !part.contains("text") ||
        !part.at("text").is_string()) {
      wrong_type(part_field, "{\"type\": \"text\", \"text\": \"...\"} (latte reads text only)", part);
    }
    text += part.at("text").get<std::string>();
  }
  return text;
}

void read_messages(const json& request, CompletionRequest& parsed) {
  if (!request.contains("messages")) throw bad_request("'messages' is missing");
  const json& messages = request.at("messages");
  if (!messages.is_array() || messages.empty())
    wrong_type("messages", "a non-empty list of messages", messages);
  size_t index = 0;
  std::vector<std::string> roles;
  for (; index < messages.size(); ++index) {
    const json& message = messages[index];
    const std::string field = "messages[" + std::to_string(index) + "]";
    if (!message.is_object()) wrong_type(field, "an object with role and content", message);
    if (!message.contains("role") || !message.at("role").is_string()) {
      wrong_type(field + ".role", "a string", message.value("role", json()));
    }
    roles.push_back(message.at("role").get<std::string>());
  }
  // The chat templates latte applies render one turn: an optional system message and a user one.
  const bool with_system = roles.size() == 2 && (roles[0] == "system" || roles[0] == "developer");
  if (!(roles.size() == 1 || with_system) || roles.back() != "user") {
    std::string listed;
    for (const std::string& role : roles) listed += (listed.empty() ? "" : ", ") + role;
    throw bad_request(
        "'messages': latte renders one turn (an optional system message, then one user message), got [" +
        listed + "]");
  }
  if (with_system) parsed.system = message_content(messages[0], 0);
  parsed.user = message_content(messages.back(), messages.size() - 1);
}

}  // namespace

RequestError bad_request(const std::string& message) {
  return RequestError(400, "invalid_request_error", message);
}

std::string error_body(const std::string& message, const std::string& type) {
  const json body = {{"error", {{"message", message}, {"type", type}}}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

PredictRequest parse_predict_request(std::string_view body, const RequestLimits& limits) {
  const json request = parse_body(body);
  PredictRequest parsed;
  if (!present(request, "inputs")) throw bad_request("'inputs' is missing: give a text or a list of texts");
  const json& inputs = request.at("inputs");
  if (inputs.is_string()) {
    parsed.single = true;
    parsed.inputs.push_back({inputs.get<std::string>(), std::nullopt});
  } else {
    parsed.inputs = read_text_inputs(inputs, "inputs", limits);
  }
  parsed.raw_scores = read_bool(request, "raw_scores", false);
  parsed.truncate = read_bool(request, "truncate", false);
  parsed.knob = read_knob(request);
  return parsed;
}

InferRequest parse_infer_request(std::string_view body, const RequestLimits& limits) {
  const json request = parse_body(body);
  InferRequest parsed;
  if (present(request, "id")) {
    if (!request.at("id").is_string()) wrong_type("id", "a string", request.at("id"));
    parsed.id = request.at("id").get<std::string>();
  }
  if (!present(request, "inputs")) throw bad_request("'inputs' is missing: give one BYTES input of texts");
  const json& inputs = request.at("inputs");
  if (!inputs.is_array() || inputs.size() != 1) wrong_type("inputs", "a list of one BYTES input", inputs);
  const json& input = inputs[0];
  if (!input.is_object()) wrong_type("inputs[0]", "an object with name, shape, datatype and data", input);
  if (!present(input, "name") || !input.at("name").is_string()) {
    wrong_type("inputs[0].name", "a string", input.value("name", json()));
  }
  parsed.input_name = input.at("name").get<std::string>();
  if (!present(input, "datatype") || input.at("datatype") != "BYTES") {
    wrong_type("inputs[0].datatype", "\"BYTES\" (texts)", input.value("datatype", json()));
  }
  if (!present(input, "data")) throw bad_request("'inputs[0].data' is missing");
  parsed.texts = read_texts(input.at("data"), "inputs[0].data", limits);
  if (present(input, "shape")) {
    const json& shape = input.at("shape");
    if (!shape.is_array() || shape.empty() || shape.size() > 2) {
      wrong_type("inputs[0].shape", "[count] or [count, 1]", shape);
    }
    uint64_t count = 1;
    for (const json& dimension : shape) {
      if (!dimension.is_number_unsigned()) wrong_type("inputs[0].shape", "[count] or [count, 1]", shape);
      count *= std::min<uint64_t>(dimension.get<uint64_t>(), limits.max_inputs + 1);
    }
    if (count != parsed.texts.size() || (shape.size() == 2 && shape[1] != 1)) {
      throw bad_request("'inputs[0].shape' " + shape.dump() + " does not match its " +
                        std::to_string(parsed.texts.size()) + " texts");
    }
  }
  if (present(request, "parameters")) {
    const json& parameters = request.at("parameters");
    if (!parameters.is_object()) wrong_type("parameters", "an object", parameters);
    parsed.knob = read_knob(parameters);
  }
  if (!parsed.knob.any()) parsed.knob = read_knob(request);
  return parsed;
}

CompletionRequest parse_completion_request(std::string_view body, bool chat, const RequestLimits& limits) {
  const json request = parse_body(body);
  CompletionRequest parsed;
  parsed.chat = chat;
  if (present(request, "model")) {
    if (!request.at("model").is_string()) wrong_type("model", "a string", request.at("model"));
    parsed.model = request.at("model").get<std::string>();
  }
  if (chat) {
    read_messages(request, parsed);
  } else {
    if (!present(request, "prompt")) throw bad_request("'prompt' is missing");
    const json& prompt = request.at("prompt");
    if (prompt.is_array() && prompt.size() == 1 && prompt[0].is_string()) {
      parsed.prompt = prompt[0].get<std::string>();
    } else if (prompt.is_string()) {
      parsed.prompt = prompt.get<std::string>();
    } else if (prompt.is_array() && !prompt.empty() && prompt[0].is_string()) {
      throw bad_request("'prompt': latte answers one prompt per request, got " +
                        std::to_string(prompt.size()));
    } else if (prompt.is_array()) {
      parsed.prompt_ids = read_prompt_ids(prompt);
    } else {
      wrong_type("prompt", "a string or a list of token ids", prompt);
    }
  }

  const char* tokens_key =
      chat && present(request, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (const std::optional<int64_t> max_tokens = read_integer(request, tokens_key)) {
    if (*max_tokens < 1)
      throw bad_request("'" + std::string(tokens_key) + "' must be at least 1, got " +
                        std::to_string(*max_tokens));
    if (*max_tokens > limits.max_new_tokens) {
      throw bad_request("'" + std::string(tokens_key) + "' is " + std::to_string(*max_tokens) +
                        ", above the server's limit of " + std::to_string(limits.max_new_tokens));
    }
    parsed.max_tokens = max_tokens;
  }
  if (const std::optional<double> temperature = read_number(request, "temperature", "temperature")) {
    if (*temperature < 0.0 || *temperature > 2.0) {
      throw bad_request("'temperature' must be between 0 (greedy) and 2, got " +
                        preview(request.at("temperature")));
    }
    parsed.temperature = *temperature;
  }
  if (const std::optional<double> top_p = read_number(request, "top_p", "top_p")) {
    if (*top_p <= 0.0 || *top_p > 1.0) {
      throw bad_request("'top_p' must be in (0, 1], got " + preview(request.at("top_p")));
    }
    parsed.top_p = *top_p;
  }
  if (const std::optional<int64_t> seed = read_integer(request, "seed"))
    parsed.seed = static_cast<uint64_t>(*seed);
  if (present(request, "stop")) {
    const json& stop = request.at("stop");
    if (stop.is_string()) {
      parsed.stop.push_back(stop.get<std::string>());
    } else if (stop.is_array()) {
      if (stop.size() > limits.max_stop_sequences) {
        throw bad_request("'stop' has " + std::to_string(stop.size()) + " sequences, above the limit of " +
                          std::to_string(limits.max_stop_sequences));
      }
      for (size_t i = 0; i < stop.size(); ++i) {
        if (!stop[i].is_string()) wrong_type("stop[" + std::to_string(i) + "]", "a string", stop[i]);
        parsed.stop.push_back(stop[i].get<std::string>());
      }
    } else {
      wrong_type("stop", "a string or a list of strings", stop);
    }
    for (const std::string& sequence : parsed.stop) {
      if (sequence.size() > limits.max_stop_bytes) {
        throw bad_request("'stop': a sequence of " + std::to_string(sequence.size()) +
                          " bytes, above the limit of " + std::to_string(limits.max_stop_bytes));
      }
    }
  }
  parsed.stream = read_bool(request, "stream", false);
  if (present(request, "stream_options")) {
    const json& options = request.at("stream_options");
    if (!options.is_object()) wrong_type("stream_options", "an object", options);
    if (!parsed.stream) throw bad_request("'stream_options' needs \"stream\": true");
    parsed.include_usage = read_bool(options, "include_usage", false);
  }
  if (present(request, "user") && !request.at("user").is_string())
    wrong_type("user", "a string", request.at("user"));

  // Left at their defaults these change nothing; set, they would, so they are refused.
  refuse_unless(request, "n", request.value("n", json(1)) == 1, "one choice per request");
  refuse_unless(request, "best_of", request.value("best_of", json(1)) == 1, "one choice per request");
  refuse_unless(request, "logprobs", request.value("logprobs", json(false)) == false, "no log probabilities");
  refuse_unless(request, "top_logprobs", request.value("top_logprobs", json(0)) == 0, "no log probabilities");
  refuse_unless(request, "echo", request.value("echo", json(false)) == false, "the prompt is not echoed");
  refuse_unless(request, "suffix", request.value("suffix", json("")) == "", "no insertion");
  refuse_unless_number(request, "presence_penalty", 0.0, "no penalties");
  refuse_unless_number(request, "frequency_penalty", 0.0, "no penalties");
  refuse_unless_number(request, "repetition_penalty", 1.0, "no penalties");
  refuse_unless(request, "logit_bias", request.value("logit_bias", json::object()).empty(), "no logit bias");
  refuse_unless(request, "tools", request.value("tools", json::array()).empty(), "no tool calls");
  refuse_unless(request, "functions", request.value("functions", json::array()).empty(), "no tool calls");
  const json tool_choice = request.value("tool_choice", json("none"));
  refuse_unless(request, "tool_choice", tool_choice == "none" || tool_choice == "auto", "no tool calls");
  const json format = request.value("response_format", json{{"type", "text"}});
  refuse_unless(request, "response_format", format.is_object() && format.value("type", json()) == "text",
                "text answers only");
  parsed.knob = read_knob(request);
  return parsed;
}

}  // namespace latte::serve
