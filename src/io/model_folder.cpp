#include "latte/io/model_folder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <string_view>

#include "latte/core/error.h"
#include "latte/io/atomic_file.h"

namespace latte {

bool is_model_file_name(const std::string& name) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "config.json",    "model.safetensors",     "model.safetensors.index.json", "vocab.txt",
      "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",      "added_tokens.json",
      "latte.json",     "latte.json.lock"};
  if (std::find(kNames.begin(), kNames.end(), name) != kNames.end()) return true;
  static const std::regex kShard("model-[0-9]{5}-of-[0-9]{5}\\.safetensors");
  return std::regex_match(name, kShard);
}

namespace {

// "name" or "org/name" of letters, digits, '.', '_' and '-', as the hub spells repositories.
bool looks_like_hub_name(const std::string& text) {
  static const std::regex kHubName("[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?");
  return std::regex_match(text, kHubName);
}

}  // namespace

void require_model_folder(const std::filesystem::path& dir) {
  std::error_code error;
  if (std::filesystem::is_directory(dir, error)) return;
  const std::string name = dir.string();
  if (!std::filesystem::exists(std::filesystem::symlink_status(dir, error)) && looks_like_hub_name(name)) {
    const std::string local = dir.filename().string();
    throw InputError("model folder " + name +
                     " does not exist; latte reads local Hugging Face folders (config.json + "
                     "model.safetensors), not hub names: get one with `huggingface-cli download " +
                     name + " --local-dir " + local + "` (docs/models.md)");
  }
  throw InputError("model folder " + name + " does not exist or is not a folder");
}

bool folder_is_absent_or_empty(const std::filesystem::path& dir) {
  std::error_code error;
  const auto status = std::filesystem::symlink_status(dir, error);
  if (status.type() == std::filesystem::file_type::not_found) return true;
  if (!std::filesystem::is_directory(dir, error)) return false;
  return std::filesystem::directory_iterator(dir) == std::filesystem::directory_iterator();
}

std::vector<std::string> remove_model_files(const std::filesystem::path& dir,
                                            const std::set<std::string>& keep) {
  std::vector<std::string> removed;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!is_model_file_name(name) || keep.contains(name)) continue;
    // symlink_status: a link is removed itself, whatever it points to.
    const auto type = entry.symlink_status().type();
    if (type != std::filesystem::file_type::regular && type != std::filesystem::file_type::symlink) continue;
    std::error_code error;
    std::filesystem::remove(entry.path(), error);
    if (error) throw Error("cannot remove " + entry.path().string() + ": " + error.message());
    removed.push_back(name);
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

namespace {

// Streams `source` into an atomic write of `destination`: weights may be larger than memory allows twice.
void copy_file_atomic(const std::filesystem::path& source, const std::filesystem::path& destination) {
  std::ifstream in(source, std::ios::binary);
  if (!in) throw Error("cannot read " + source.string());
  AtomicFileWriter writer(destination);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) writer.write(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw Error("cannot read " + source.string());
  writer.commit();
}

}  // namespace

std::optional<std::filesystem::path> first_model_folder(std::span<const std::filesystem::path> candidates) {
  for (const std::filesystem::path& candidate : candidates) {
    if (std::filesystem::is_regular_file(candidate / "config.json")) return candidate;
  }
  return std::nullopt;
}

void check_new_folder(const std::filesystem::path& destination) {
  std::error_code error;
  const auto status = std::filesystem::symlink_status(destination, error);
  if (status.type() == std::filesystem::file_type::symlink) {
    throw InputError(destination.string() + " is a symbolic link; give a new or empty folder");
  }
  if (!folder_is_absent_or_empty(destination)) {
    throw InputError(destination.string() + " exists and is not an empty folder; give a new or empty folder");
  }
}

std::vector<std::string> copy_model_folder(const std::filesystem::path& source,
                                           const std::filesystem::path& destination) {
  check_new_folder(destination);
  std::error_code error;
  std::filesystem::create_directories(destination, error);
  if (error) throw InputError("cannot create " + destination.string() + ": " + error.message());
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(source)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".") || name == "latte.json.lock" || !entry.is_regular_file()) continue;
    // AT_SYMLINK_FOLLOW: a symlinked source file (a Hugging Face cache snapshot) links its target.
    // The destination name is new in an empty folder, and link() never follows one there.
    if (::linkat(AT_FDCWD, entry.path().c_str(), AT_FDCWD, (destination / name).c_str(), AT_SYMLINK_FOLLOW) !=
        0) {
      const int link_error = errno;
      if (link_error != EXDEV && link_error != EPERM && link_error != EMLINK && link_error != ENOTSUP) {
        throw Error("cannot link " + entry.path().string() + " into " + destination.string() + ": " +
                    std::strerror(link_error));
      }
      copy_file_atomic(entry.path(), destination / name);
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace latte
