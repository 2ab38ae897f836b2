#include "tokenizer.h"

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "latte/io/model_folder.h"
#include "latte/tokenizers/tokenizer.h"

namespace py = pybind11;

namespace latte::python {

namespace {

class PyTokenizer {
 public:
  explicit PyTokenizer(const std::filesystem::path& path) {
    require_model_folder(path);
    tokenizer_ = load_tokenizer(path);
  }

  // max_length 0: no limit (byte-level BPE), else the model's encoding cut to it.
  Encoding encode(const std::string& text, const std::optional<std::string>& pair, int64_t max_length,
                  const std::string& origin) const {
    return encode_input(*tokenizer_, text, pair, max_length, origin);
  }

  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, int64_t max_length) const {
    std::vector<Encoding> encodings;
    encodings.reserve(texts.size());
    py::gil_scoped_release released;
    for (size_t i = 0; i < texts.size(); ++i)
      encodings.push_back(encode(texts[i], std::nullopt, max_length, "texts[" + std::to_string(i) + "]"));
    return encodings;
  }

  const Tokenizer& get() const { return *tokenizer_; }

 private:
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace

void register_tokenizer(py::module_& module) {
  py::class_<Encoding>(module, "Encoding", "A text's token ids, segment ids and token strings.")
      .def_readonly("ids", &Encoding::ids, "Token ids, the model's special tokens included.")
      .def_readonly("type_ids", &Encoding::type_ids, "Segment ids (0: first text, 1: the pair's second).")
      .def_readonly("tokens", &Encoding::tokens, "Token strings, one per id.")
      .def_readonly("truncated", &Encoding::truncated, "Whether tokens were dropped to fit max_length.")
      .def("__len__", [](const Encoding& encoding) { return encoding.ids.size(); })
      .def("__repr__", [](const Encoding& encoding) {
        return "Encoding(ids=" + py::repr(py::cast(encoding.ids)).cast<std::string>() + ")";
      });

  py::class_<PyTokenizer>(
      module, "Tokenizer",
      "The tokenizer of a model folder: WordPiece (BERT), byte-level BPE (GPT-2, Llama 3) or "
      "SentencePiece (T5), chosen by its files.")
      .def(py::init<const std::filesystem::path&>(), py::arg("path"))
      .def(
          "encode",
          [](const PyTokenizer& tokenizer, const std::string& text, const std::optional<std::string>& pair,
             int64_t max_length) { return tokenizer.encode(text, pair, max_length, "text"); },
          py::arg("text"), py::arg("pair") = py::none(), py::arg("max_length") = 0,
          "The model's encoding of text (and a second text of a pair): ids with its special tokens, as "
          "Hugging "
          "Face's encode(text). max_length 0: no limit beyond the tokenizer's own.")
      .def("encode_batch", &PyTokenizer::encode_batch, py::arg("texts"), py::arg("max_length") = 0,
           "encode() of every text, in order.")
      .def(
          "decode",
          [](const PyTokenizer& tokenizer, const std::vector<int32_t>& ids) {
            // A byte-level BPE decode may end inside a character: made U+FFFD, as Python does.
            Utf8Stream utf8;
            return utf8.push(tokenizer.get().decode(ids)) + utf8.finish();
          },
          py::arg("ids"), "The text of ids, special tokens skipped.")
      .def_property_readonly("vocab_size",
                             [](const PyTokenizer& tokenizer) { return tokenizer.get().vocab_size(); })
      .def_property_readonly(
          "kind", [](const PyTokenizer& tokenizer) { return std::string(tokenizer.get().kind()); },
          "'wordpiece', 'byte-level-bpe' or 'sentencepiece'.")
      .def(
          "token", [](const PyTokenizer& tokenizer, int32_t id) { return tokenizer.get().token(id); },
          py::arg("id"), "The token string of id.");
}

}  // namespace latte::python
