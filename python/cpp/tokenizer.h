// latte.Tokenizer: a model folder's tokenizer (WordPiece, byte-level BPE or SentencePiece, chosen
// by its files as the CLI's `latte tokenize` does).
#pragma once

#include <pybind11/pybind11.h>

namespace latte::python {

void register_tokenizer(pybind11::module_& module);

}  // namespace latte::python
