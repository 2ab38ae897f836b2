// The request parsers of `latte serve` (serve/requests.h): what each accepts, and the status and
// field each refusal names.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "latte/serve/requests.h"

namespace latte::serve {
namespace {

// The RequestError of `parse`: its status, and a message that must contain `needle`.
template <typename Parse>
void expect_refused(Parse&& parse, int status, const std::string& needle) {
  try {
    parse();
    ADD_FAILURE() << "accepted; expected HTTP " << status << " naming '" << needle << "'";
  } catch (const RequestError& error) {
    EXPECT_EQ(error.status(), status) << error.what();
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
  }
}

TEST(ServePredictRequest, OneTextOrAListWithTheKnob) {
  const PredictRequest one = parse_predict_request(R"({"inputs": "win a prize"})");
  EXPECT_TRUE(one.single);
  EXPECT_EQ(one.inputs, (std::vector<TextInput>{{"win a prize", std::nullopt}}));
  EXPECT_FALSE(one.raw_scores);
  EXPECT_FALSE(one.knob.any());
  const PredictRequest many = parse_predict_request(
      R"({"inputs": ["a", "b"], "raw_scores": true, "truncate": true, "latte": {"speedup": 2}})");
  EXPECT_FALSE(many.single);
  EXPECT_EQ(many.inputs.size(), 2u);
  EXPECT_TRUE(many.raw_scores);
  EXPECT_TRUE(many.truncate);
  EXPECT_EQ(many.knob.speedup, 2.0);
  EXPECT_EQ(parse_predict_request(R"({"inputs": "x", "latte": {"latency_ms": 4}})").knob.latency_ms, 4.0);
}

TEST(ServePredictRequest, TextsAndPairsAsTextEmbeddingsInferenceBatchesThem) {
  const PredictRequest batch = parse_predict_request(R"({"inputs": [["a"], ["q", "doc"], ["b", ""]]})");
  EXPECT_FALSE(batch.single);
  const std::vector<TextInput> expected = {{"a", std::nullopt}, {"q", "doc"}, {"b", ""}};
  EXPECT_EQ(batch.inputs, expected);
  // A flat list stays a batch of texts.
  const std::vector<TextInput> flat = {{"q", std::nullopt}, {"doc", std::nullopt}};
  EXPECT_EQ(parse_predict_request(R"({"inputs": ["q", "doc"]})").inputs, flat);

  expect_refused([] { parse_predict_request(R"({"inputs": [["a", "b", "c"]]})"); }, 400,
                 "'inputs[0]' must be [text] or [text, text_pair]");
  expect_refused([] { parse_predict_request(R"({"inputs": [["a"], []]})"); }, 400, "'inputs[1]'");
  expect_refused([] { parse_predict_request(R"({"inputs": [["a"], "b"]})"); }, 400, "'inputs[1]'");
  expect_refused([] { parse_predict_request(R"({"inputs": [["a", 2]]})"); }, 400, "'inputs[0]'");
  expect_refused([] { parse_predict_request(R"({"inputs": ["a", ["b", "c"]]})"); }, 400,
                 "a batch of pairs is [[text, text_pair], ...]");
  RequestLimits limits;
  limits.max_inputs = 1;
  expect_refused([&] { parse_predict_request(R"({"inputs": [["a"], ["b"]]})", limits); }, 413, "limit of 1");
}

TEST(ServePredictRequest, RefusesBadBodies) {
  expect_refused([] { parse_predict_request("{\"inputs\": "); }, 400, "not valid JSON");
  expect_refused([] { parse_predict_request("[1]"); }, 400, "expected a JSON object");
  expect_refused([] { parse_predict_request("{}"); }, 400, "'inputs' is missing");
  expect_refused([] { parse_predict_request(R"({"inputs": 3})"); }, 400, "'inputs' must be");
  expect_refused([] { parse_predict_request(R"({"inputs": []})"); }, 400, "empty");
  expect_refused([] { parse_predict_request(R"({"inputs": ["a", 1]})"); }, 400, "'inputs[1]'");
  expect_refused([] { parse_predict_request(R"({"inputs": "a", "raw_scores": "yes"})"); }, 400,
                 "'raw_scores'");
  expect_refused([] { parse_predict_request(R"({"inputs": "a", "latte": {"speed": 2}})"); }, 400,
                 "unknown field 'speed'");
  expect_refused([] { parse_predict_request(R"({"inputs": "a", "latte": {"speedup": 0.5}})"); }, 400,
                 "'latte.speedup' must be a number >= 1");
  expect_refused([] { parse_predict_request(R"({"inputs": "a", "latte": {"speedup": "NaN"}})"); }, 400,
                 "'latte.speedup' must be a number");
  expect_refused(
      [] { parse_predict_request(R"({"inputs": "a", "latte": {"speedup": 2, "latency_ms": 3}})"); }, 400,
      "not both");
  expect_refused([] { parse_predict_request(R"({"inputs": "a", "latte": {"latency_ms": 0}})"); }, 400,
                 "'latte.latency_ms' must be a number > 0");
  expect_refused([] { parse_predict_request(R"({"inputs": "a", "latte": 2})"); }, 400,
                 "'latte' must be an object");
  RequestLimits limits;
  limits.max_inputs = 2;
  expect_refused([&] { parse_predict_request(R"({"inputs": ["a", "b", "c"]})", limits); }, 413, "limit of 2");
  std::string deep(100, '[');
  expect_refused([&] { parse_predict_request(deep); }, 400, "nested deeper");
}

TEST(ServeInferRequest, KServeBytesInput) {
  const InferRequest request = parse_infer_request(
      R"({"id": "7", "inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "b"]}],
          "parameters": {"latte": {"speedup": 1.5}}})");
  EXPECT_EQ(request.id, "7");
  EXPECT_EQ(request.input_name, "text");
  EXPECT_EQ(request.texts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(request.knob.speedup, 1.5);
  expect_refused(
      [] { parse_infer_request(R"({"inputs": [{"name": "t", "datatype": "FP32", "data": [1]}]})"); }, 400,
      "'inputs[0].datatype'");
  expect_refused(
      [] {
        parse_infer_request(
            R"({"inputs": [{"name": "t", "shape": [3], "datatype": "BYTES", "data": ["a"]}]})");
      },
      400, "does not match its 1 texts");
}

TEST(ServeCompletionRequest, OpenAiFieldsAndDefaults) {
  const CompletionRequest request = parse_completion_request(
      R"({"model": "m", "prompt": "Once", "max_tokens": 5, "temperature": 0, "top_p": 0.5, "seed": 9,
          "stop": ["\n", "."], "stream": true, "stream_options": {"include_usage": true},
          "n": 1, "logprobs": null, "echo": false, "presence_penalty": 0, "user": "u", "unknown": 1})",
      false);
  EXPECT_EQ(request.prompt, "Once");
  EXPECT_EQ(request.max_tokens, 5);
  EXPECT_TRUE(request.greedy());
  EXPECT_EQ(request.top_p, 0.5);
  EXPECT_EQ(request.seed, 9u);
  EXPECT_EQ(request.stop, (std::vector<std::string>{"\n", "."}));
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  const CompletionRequest defaults = parse_completion_request(R"({"prompt": ["One"]})", false);
  EXPECT_EQ(defaults.prompt, "One");
  EXPECT_TRUE(defaults.prompt_ids.empty());
  EXPECT_EQ(parse_completion_request(R"({"prompt": [464, 0, 50256]})", false).prompt_ids,
            (std::vector<int32_t>{464, 0, 50256}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": [[7, 8]]})", false).prompt_ids,
            (std::vector<int32_t>{7, 8}));
  EXPECT_FALSE(defaults.max_tokens);
  EXPECT_EQ(defaults.temperature, 1.0);  // OpenAI's default: sampling
  EXPECT_FALSE(defaults.stream);
}

TEST(ServeCompletionRequest, ChatTakesOneTurn) {
  const CompletionRequest chat = parse_completion_request(
      R"({"messages": [{"role": "system", "content": "Brief."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
          "max_completion_tokens": 3})",
      true);
  EXPECT_EQ(chat.system, "Brief.");
  EXPECT_EQ(chat.user, "Hi");
  EXPECT_EQ(chat.max_tokens, 3);
  expect_refused(
      [] {
        parse_completion_request(
            R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]})",
            true);
      },
      400, "one turn");
  expect_refused([] { parse_completion_request(R"({"messages": []})", true); }, 400, "'messages'");
  expect_refused([] { parse_completion_request(R"({"messages": [{"role": "user"}]})", true); }, 400,
                 "'messages[0].content' is missing");
}

TEST(ServeCompletionRequest, RefusesWhatWouldChangeTheAnswer) {
  const auto completion = [](const std::string& fields) {
    return [fields] { parse_completion_request(R"({"prompt": "x", )" + fields + "}", false); };
  };
  expect_refused(completion(R"("n": 2)"), 400, "'n' is not supported");
  expect_refused(completion(R"("best_of": 3)"), 400, "'best_of'");
  expect_refused(completion(R"("logprobs": 5)"), 400, "'logprobs'");
  expect_refused(completion(R"("echo": true)"), 400, "'echo'");
  expect_refused(completion(R"("presence_penalty": 0.5)"), 400, "'presence_penalty'");
  expect_refused(completion(R"("logit_bias": {"50256": -100})"), 400, "'logit_bias'");
  expect_refused(completion(R"("max_tokens": 0)"), 400, "'max_tokens' must be at least 1");
  expect_refused(completion(R"("max_tokens": 100000000)"), 400, "above the server's limit");
  expect_refused(completion(R"("max_tokens": 2.5)"), 400, "'max_tokens' must be an integer");
  expect_refused(completion(R"("temperature": 3)"), 400, "'temperature'");
  expect_refused(completion(R"("top_p": 0)"), 400, "'top_p'");
  expect_refused(completion(R"("stop": [1])"), 400, "'stop[0]'");
  expect_refused(completion(R"("stop": ["a", "b", "c", "d", "e"])"), 400, "limit of 4");
  expect_refused(completion(R"("stream_options": {"include_usage": true})"), 400, "needs \"stream\": true");
  expect_refused(completion(R"("latte": {"speedup": 2, "mode": "x"})"), 400, "unknown field 'mode'");
  expect_refused([] { parse_completion_request(R"({"prompt": ["a", "b"]})", false); }, 400, "one prompt");
  expect_refused([] { parse_completion_request(R"({"prompt": [[1], [2]]})", false); }, 400, "one prompt");
  expect_refused([] { parse_completion_request(R"({"prompt": []})", false); }, 400, "'prompt' is empty");
  expect_refused([] { parse_completion_request(R"({"prompt": [[]]})", false); }, 400, "'prompt' is empty");
  expect_refused([] { parse_completion_request(R"({"prompt": [1, -2]})", false); }, 400,
                 "'prompt[1]' must be a token id");
  expect_refused([] { parse_completion_request(R"({"prompt": [[1, 2.5]]})", false); }, 400,
                 "'prompt[0][1]' must be a token id");
  expect_refused([] { parse_completion_request(R"({"prompt": [3000000000]})", false); }, 400,
                 "'prompt[0]' must be a token id");
  expect_refused([] { parse_completion_request(R"({"prompt": {"ids": [1]}})", false); }, 400,
                 "'prompt' must be a string or a list of token ids");
  expect_refused([] { parse_completion_request(R"({"max_tokens": 3})", false); }, 400, "'prompt' is missing");
}

TEST(ServeErrors, BodyIsOpenAiShaped) {
  EXPECT_EQ(error_body("bad \"x\"", "invalid_request_error"),
            R"({"error":{"message":"bad \"x\"","type":"invalid_request_error"}})");
}

}  // namespace
}  // namespace latte::serve
