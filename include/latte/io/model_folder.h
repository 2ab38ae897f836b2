// A model folder in Hugging Face layout, as latte writes it: which files are latte's to
// replace, so that writing a new model never leaves a stale file of the old one beside it
// (a stale tokenizer.json takes precedence over vocab.txt; a stale latte.json miscalibrates).
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace latte {

// config.json, model.safetensors, model.safetensors.index.json and its shards
// (model-00001-of-00002.safetensors), the tokenizer files, latte.json and its lock file.
bool is_model_file_name(const std::string& name);

// True when `dir` does not exist or holds no entries at all.
bool folder_is_absent_or_empty(const std::filesystem::path& dir);

// Removes the entries of `dir` whose names are model file names but not in `keep` (files and
// symlinks only, never folders nor any other name); returns the names removed, sorted.
std::vector<std::string> remove_model_files(const std::filesystem::path& dir,
                                            const std::set<std::string>& keep);

}  // namespace latte
