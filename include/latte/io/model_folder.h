// A model folder in Hugging Face layout, as latte writes it: which files are latte's to
// replace, so that writing a new model never leaves a stale file of the old one beside it
// (a stale tokenizer.json takes precedence over vocab.txt; a stale latte.json miscalibrates).
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <span>
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

// InputError unless `dir` is a folder. A missing path that looks like a Hugging Face hub name
// ("bert-base-uncased", "openai-community/gpt2") gets a message saying that latte reads local
// folders and how to download one.
void require_model_folder(const std::filesystem::path& dir);

// The first of `candidates` that holds a config.json (where a front end looks for its bundled
// default model); none when no candidate does.
std::optional<std::filesystem::path> first_model_folder(std::span<const std::filesystem::path> candidates);

// InputError naming `destination` unless it is absent or an empty folder (a symlink is refused).
void check_new_folder(const std::filesystem::path& destination);

// Copies the model folder `source` into `destination`, which must be absent or an empty folder
// (never a symlink): every regular file at the top level (a symlinked one by its contents)
// except dot files and the lock file of older versions. Files are hard-linked where the file
// system allows (latte replaces files by rename, so a link never changes the source) and copied
// atomically otherwise. InputError names the destination when it is not usable. Returns the
// names, sorted.
std::vector<std::string> copy_model_folder(const std::filesystem::path& source,
                                           const std::filesystem::path& destination);

}  // namespace latte
