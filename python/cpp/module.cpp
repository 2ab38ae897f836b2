// The Python module latte._latte: latte's library as Python classes (DESIGN.md section 3, python).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "errors.h"
#include "generation_stream.h"
#include "model.h"
#include "tokenizer.h"

namespace py = pybind11;

namespace latte::python {

namespace {

KnobArgs knob_args(std::optional<double> speedup, std::optional<double> latency_ms,
                   std::optional<std::vector<int64_t>> keep, std::optional<double> coverage,
                   std::optional<std::string> mode, int64_t min_keep) {
  return KnobArgs{speedup, latency_ms, std::move(keep), coverage, std::move(mode), min_keep};
}

// The knobs' keyword arguments, shared by every inference method.
#define LATTE_KNOB_ARGS                                                               \
  py::kw_only(), py::arg("speedup") = py::none(), py::arg("latency_ms") = py::none(), \
                 py::arg("keep") = py::none(), py::arg("coverage") = py::none(),      \
                 py::arg("mode") = py::none(), py::arg("min_keep") = 1

constexpr const char* kKnobsDoc =
    "Knobs (at most one of speedup, latency_ms, keep, coverage; none: latte.json's default speedup, else "
    "dense): speedup S >= 1; latency_ms, a budget per input; keep, the word-vectors leaving each layer; "
    "coverage, ACC tau in (0, 1]; mode 'static' or 'dynamic'; min_keep, the fewest a layer keeps.";

}  // namespace

void register_model(py::module_& module) {
  py::class_<Classification>(module, "Classification", "What classify() gives for one input.")
      .def_readonly("label", &Classification::label, "The most probable label (None for a regression model).")
      .def_readonly("score", &Classification::score, "The label's probability, or the regression value.")
      .def_readonly("probabilities", &Classification::probabilities,
                    "numpy float32 [labels] (None for a regression model).")
      .def_readonly("logits", &Classification::logits, "numpy float32 [labels].")
      .def_readonly("kept", &Classification::kept, "Word-vectors leaving each layer.")
      .def_readonly("predicted_ms", &Classification::predicted_ms,
                    "The planner's latency prediction, if any.")
      .def_readonly("predicted_speedup", &Classification::predicted_speedup,
                    "The planner's speedup prediction, if any.")
      .def("__repr__", [](const Classification& result) {
        return "Classification(label=" + py::repr(result.label).cast<std::string>() +
               ", score=" + std::to_string(result.score) + ")";
      });

  py::class_<Generation>(module, "Generation", "What generate() gives for one prompt.")
      .def_readonly("text", &Generation::text)
      .def_readonly("ids", &Generation::ids,
                    "Generated token ids (an eos token included when it ended the run).")
      .def_readonly("prompt_ids", &Generation::prompt_ids, "The prompt as run (cut when truncate=True).")
      .def_readonly("kept", &Generation::kept,
                    "Word-vectors leaving each layer of the prefill (the encoder).")
      .def_readonly("stop_reason", &Generation::stop_reason, "'eos', 'length' or 'callback' (a stop string).")
      .def_readonly("truncated", &Generation::truncated)
      .def_readonly("setup_ms", &Generation::setup_ms)
      .def_readonly("ttft_ms", &Generation::ttft_ms, "Time to first token.")
      .def_readonly("decode_ms_per_token", &Generation::decode_ms_per_token)
      .def_readonly("kv_cache_bytes", &Generation::kv_cache_bytes)
      .def_readonly("kv_cache_bytes_dense", &Generation::kv_cache_bytes_dense)
      .def_readonly("predicted_speedup", &Generation::predicted_speedup)
      .def("__repr__", [](const Generation& generation) {
        return "Generation(text=" + py::repr(py::str(generation.text)).cast<std::string>() +
               ", stop_reason='" + generation.stop_reason + "')";
      });

  py::class_<GenerationStream>(module, "GenerationStream",
                               "generate(stream=True): iterates over text pieces as they are generated.")
      .def("__iter__", [](GenerationStream& stream) -> GenerationStream& { return stream; })
      .def("__next__", &GenerationStream::next)
      .def("close", &GenerationStream::close, "End the run at its next token.")
      .def_property_readonly("result", &GenerationStream::result,
                             "The Generation once the iterator is exhausted; None before.");

  py::class_<Model>(
      module, "Model",
      "A model folder (Hugging Face layout) of any family latte runs: encoders classify, decoders "
      "and encoder-decoders generate. Calls from several threads are safe: each runs with the GIL "
      "released, one at a time per model.")
      .def(
          py::init<const std::optional<std::filesystem::path>&, const std::optional<std::string>&,
                   std::optional<int>>(),
          py::arg("path") = py::none(), py::arg("dtype") = py::none(), py::arg("threads") = py::none(),
          "path None: the bundled default model. dtype 'f32', 'int8' or 'bf16' (None: int8 for a folder of "
          "latte quantize, else f32). threads: for the whole process (None: LATTE_NUM_THREADS or all cores).")
      .def_property_readonly("path", &Model::path)
      .def_property_readonly("family", &Model::family,
                             "config.json's model_type ('bert', 'gpt2', 't5', ...).")
      .def_property_readonly("kind", &Model::kind, "'encoder', 'decoder-only' or 'encoder-decoder'.")
      .def_property_readonly("dtype", &Model::dtype, "What the products compute in.")
      .def_property_readonly("config", &Model::config, "config.json as a dict.")
      .def_property_readonly("num_layers", &Model::num_layers, "Layers elimination plans over.")
      .def_property_readonly("labels", &Model::labels, "A classifier's labels, by class id.")
      .def(
          "classify",
          [](Model& model, const std::vector<TextInput>& texts, std::optional<double> speedup,
             std::optional<double> latency_ms, std::optional<std::vector<int64_t>> keep,
             std::optional<double> coverage, std::optional<std::string> mode, int64_t min_keep,
             int batch_size, std::optional<int64_t> max_length, bool truncate) {
            return model.classify(
                texts, knob_args(speedup, latency_ms, std::move(keep), coverage, std::move(mode), min_keep),
                batch_size, max_length, truncate);
          },
          py::arg("texts"), LATTE_KNOB_ARGS, py::arg("batch_size") = 16, py::arg("max_length") = py::none(),
          py::arg("truncate") = true,
          (std::string("Labels (or regression scores) of texts: a list of str or (text, text_pair). ") +
           kKnobsDoc)
              .c_str())
      .def(
          "logits",
          [](Model& model, const std::vector<TextInput>& texts, std::optional<double> speedup,
             std::optional<double> latency_ms, std::optional<std::vector<int64_t>> keep,
             std::optional<double> coverage, std::optional<std::string> mode, int64_t min_keep,
             int batch_size, std::optional<int64_t> max_length, bool truncate) {
            return model.logits(
                texts, knob_args(speedup, latency_ms, std::move(keep), coverage, std::move(mode), min_keep),
                batch_size, max_length, truncate);
          },
          py::arg("texts"), LATTE_KNOB_ARGS, py::arg("batch_size") = 16, py::arg("max_length") = py::none(),
          py::arg("truncate") = true,
          (std::string("The classifier's logits, numpy float32 [len(texts), labels]. ") + kKnobsDoc).c_str())
      .def(
          "generate",
          [](Model& model, const std::variant<std::string, std::vector<int32_t>>& prompt,
             int64_t max_new_tokens, std::optional<double> temperature, std::optional<int64_t> top_k,
             std::optional<double> top_p, uint64_t seed,
             const std::variant<std::monostate, std::string, std::vector<std::string>>& stop, bool truncate,
             bool stream, std::optional<double> speedup, std::optional<double> latency_ms,
             std::optional<std::vector<int64_t>> keep, std::optional<double> coverage,
             std::optional<std::string> mode, int64_t min_keep) {
            Model::GenerateArgs args{max_new_tokens, temperature, top_k, top_p, seed, {}, truncate};
            if (const auto* one = std::get_if<std::string>(&stop)) args.stop = {*one};
            if (const auto* many = std::get_if<std::vector<std::string>>(&stop)) args.stop = *many;
            return model.generate(
                prompt, args,
                knob_args(speedup, latency_ms, std::move(keep), coverage, std::move(mode), min_keep), stream);
          },
          py::arg("prompt"), py::arg("max_new_tokens") = 32, py::arg("temperature") = py::none(),
          py::arg("top_k") = py::none(), py::arg("top_p") = py::none(), py::arg("seed") = 0,
          py::arg("stop") = py::none(), py::arg("truncate") = false, py::arg("stream") = false,
          LATTE_KNOB_ARGS, py::keep_alive<0, 1>(),
          (std::string(
               "Continue a prompt (str, or a list of token ids): greedy unless temperature, top_k or "
               "top_p is given; stop: str or list of str ending the text. Returns a Generation, or with "
               "stream=True a GenerationStream of text pieces. ") +
           kKnobsDoc)
              .c_str())
      .def("score", &Model::score, py::arg("texts"), py::arg("prompt_len") = 256,
           py::arg("continuation_len") = 32, py::arg("speedups") = std::vector<double>{1.0},
           py::arg("max_windows") = 0, py::arg("latency_samples") = 64, py::arg("mode") = py::none(),
           "Perplexity of a decoder as latte eval --task lm: the texts as one token stream cut into windows "
           "of "
           "prompt_len + continuation_len tokens; each speedup prunes the prompts and scores the "
           "continuations. "
           "One dict per speedup.")
      .def(
          "plan",
          [](Model& model, int64_t seq_len, std::optional<double> speedup, std::optional<double> latency_ms,
             std::optional<std::vector<int64_t>> keep, std::optional<double> coverage,
             std::optional<std::string> mode, int64_t min_keep) {
            return model.plan(
                knob_args(speedup, latency_ms, std::move(keep), coverage, std::move(mode), min_keep),
                seq_len);
          },
          py::arg("seq_len") = 128, LATTE_KNOB_ARGS,
          (std::string("The schedule a knob gives for inputs of seq_len tokens, as latte plan. ") + kKnobsDoc)
              .c_str())
      .def("profile", &Model::profile, py::arg("rounds") = py::none(),
           "Measure the model's latency table on this machine and cache it, as latte profile.")
      .def("calibrate", &Model::calibrate, py::arg("texts"), py::arg("max_inputs") = 128,
           py::arg("max_length") = py::none(), py::arg("truncate") = true,
           "Measure ACC curves and keep fractions on sample texts and store them in the folder's latte.json, "
           "as "
           "latte calibrate.");
}

}  // namespace latte::python

PYBIND11_MODULE(_latte, module) {
  module.doc() = "latte: latency-tunable Transformer inference (C++), from Python.";
  module.attr("__version__") = LATTE_VERSION;
  latte::python::register_errors(module);
  latte::python::register_model(module);
  latte::python::register_tokenizer(module);
}
