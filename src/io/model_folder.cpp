#include "latte/io/model_folder.h"

#include <algorithm>
#include <array>
#include <regex>
#include <string_view>

#include "latte/core/error.h"

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

}  // namespace latte
