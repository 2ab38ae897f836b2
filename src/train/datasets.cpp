#include "latte/train/datasets.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <set>

#include "latte/core/error.h"
#include "latte/io/read_file.h"

namespace latte::train {

namespace {

bool is_blank(const std::string& line) { return line.find_first_not_of(" \t\r\n") == std::string::npos; }

LineReader open_data_file(const std::filesystem::path& path) {
  return LineReader(ReadableFile::open(path, FileSource::kUser, "data file"));
}

}  // namespace

std::vector<LabelledText> read_labelled_examples(const std::filesystem::path& path,
                                                 const data::RecordOptions& records,
                                                 const std::vector<std::string>& id2label,
                                                 std::ostream* log) {
  std::vector<data::LabeledExample> read = data::read_records(path, records);
  if (read.empty()) throw InputError(path.string() + ": no examples (the file is empty)");
  for (const data::LabeledExample& example : read) {
    if (!example.label) {
      throw FieldError("label field", "is needed: " + example.origin +
                                          " has no label (training needs one for every example)");
    }
  }
  if (const std::optional<std::string> mapping = data::map_integer_labels(read, id2label); mapping && log)
    *log << "latte: notice: " << *mapping << "\n";
  std::vector<LabelledText> examples;
  examples.reserve(read.size());
  for (data::LabeledExample& example : read) {
    LabelledText text;
    text.text = std::move(example.text);
    text.text_pair = std::move(example.text_pair);
    text.origin = std::move(example.origin);
    if (example.score) {
      // Beyond float's range a regression target would silently become infinity.
      if (std::fabs(*example.score) > 1e30)
        throw InputError(text.origin + ": label is not a finite number within +-1e30");
      const double score = *example.score;
      text.label = score == std::floor(score) && std::fabs(score) < 1e15
                       ? nlohmann::json(static_cast<int64_t>(score))
                       : nlohmann::json(score);
    } else {
      text.label = std::move(*example.label);
    }
    examples.push_back(std::move(text));
  }
  return examples;
}

std::string label_name(const nlohmann::json& label) {
  return label.is_string() ? label.get<std::string>() : label.dump();
}

LabelSet LabelSet::infer(const std::vector<LabelledText>& examples) {
  const bool all_numbers = std::all_of(examples.begin(), examples.end(),
                                       [](const LabelledText& e) { return e.label.is_number(); });
  const bool any_fraction = std::any_of(examples.begin(), examples.end(), [](const LabelledText& e) {
    return e.label.is_number_float() && std::floor(e.label.get<double>()) != e.label.get<double>();
  });
  LabelSet labels;
  if (all_numbers && any_fraction) {
    labels.regression = true;
    return labels;
  }
  if (all_numbers) {
    std::set<double> values;
    for (const LabelledText& example : examples) values.insert(example.label.get<double>());
    for (double value : values) {
      labels.names.push_back(label_name(nlohmann::json(static_cast<int64_t>(value))));
    }
  } else {
    std::set<std::string> names;
    for (const LabelledText& example : examples) names.insert(label_name(example.label));
    labels.names.assign(names.begin(), names.end());
  }
  if (labels.names.size() < 2) {
    throw InputError(examples.front().origin + ": the training data has only one label ('" +
                     labels.names.front() + "'); classification needs at least two");
  }
  return labels;
}

float LabelSet::target(const nlohmann::json& label, const std::string& origin) const {
  if (regression) {
    if (!label.is_number())
      throw InputError(origin + ": regression label must be a number, got " + json_preview(label));
    return label.get<float>();
  }
  std::string name = label_name(label);
  // 1.0 names the class "1"; |x| < 1e15 keeps the conversion to an integer exact and defined.
  if (label.is_number_float() && std::floor(label.get<double>()) == label.get<double>() &&
      std::fabs(label.get<double>()) < 1e15) {
    name = label_name(nlohmann::json(static_cast<int64_t>(label.get<double>())));
  }
  const auto found = std::find(names.begin(), names.end(), name);
  if (found == names.end()) {
    std::string known;
    for (const std::string& known_name : names) known += (known.empty() ? "" : ", ") + known_name;
    throw InputError(origin + ": label '" + name + "' is not one of the model's labels (" + known + ")");
  }
  return static_cast<float>(found - names.begin());
}

std::vector<EncodedExample> encode_examples(const std::vector<LabelledText>& examples, const LabelSet& labels,
                                            const BertTokenizer& tokenizer, int max_length) {
  std::vector<EncodedExample> encoded;
  encoded.reserve(examples.size());
  for (const LabelledText& example : examples) {
    Encoding encoding;
    try {
      encoding = example.text_pair ? tokenizer.encode_pair(example.text, *example.text_pair, max_length)
                                   : tokenizer.encode(example.text, max_length);
    } catch (const InputError& error) {
      throw InputError(example.origin + ": " + error.what());
    }
    EncodedExample item;
    item.input.input_ids = std::move(encoding.ids);
    item.input.token_type_ids = std::move(encoding.type_ids);
    item.target = labels.target(example.label, example.origin);
    encoded.push_back(std::move(item));
  }
  return encoded;
}

namespace {

// Ids of each non-blank line of a text file by `encode` (lines it encodes to nothing are
// skipped); errors name FILE:LINE.
std::vector<std::vector<int32_t>> encode_text_lines(
    const std::filesystem::path& path,
    const std::function<std::vector<int32_t>(const std::string&)>& encode) {
  LineReader file = open_data_file(path);
  std::vector<std::vector<int32_t>> lines;
  for (std::string line; file.next(line);) {
    const size_t number = file.line_number();
    if (is_blank(line)) continue;
    const size_t invalid = find_invalid_utf8(line);
    if (invalid != std::string::npos) {
      throw InputError(path.string() + ":" + std::to_string(number) + ": invalid UTF-8 at byte " +
                       std::to_string(invalid + 1));
    }
    std::vector<int32_t> ids;
    try {
      ids = encode(line);
    } catch (const InputError& error) {
      throw InputError(path.string() + ":" + std::to_string(number) + ": " + error.what());
    }
    if (!ids.empty()) lines.push_back(std::move(ids));
  }
  if (lines.empty()) throw InputError(path.string() + ": no text (the file is empty)");
  return lines;
}

}  // namespace

std::vector<std::vector<int32_t>> read_text_lines(const std::filesystem::path& path,
                                                  const BertTokenizer& tokenizer) {
  constexpr int kUnlimited = 1 << 30;
  return encode_text_lines(path, [&](const std::string& line) {
    const Encoding encoding = tokenizer.encode(line, kUnlimited);
    if (encoding.ids.size() <= 2) return std::vector<int32_t>();  // nothing but [CLS] [SEP]
    return std::vector<int32_t>(encoding.ids.begin() + 1, encoding.ids.end() - 1);
  });
}

std::vector<std::vector<int32_t>> read_text_lines(const std::filesystem::path& path,
                                                  const ByteLevelBpeTokenizer& tokenizer) {
  return encode_text_lines(path, [&](const std::string& line) { return tokenizer.token_ids(line); });
}

std::vector<std::vector<int32_t>> read_text_lines(const std::filesystem::path& path,
                                                  const SentencePieceTokenizer& tokenizer) {
  return encode_text_lines(path, [&](const std::string& line) { return tokenizer.token_ids(line); });
}

std::vector<std::vector<int32_t>> causal_lm_windows(const std::vector<std::vector<int32_t>>& lines,
                                                    int32_t separator, int64_t length,
                                                    const std::string& source) {
  if (length < 2)
    throw InputError("a causal-LM window needs at least 2 tokens, got " + std::to_string(length));
  std::vector<std::vector<int32_t>> windows;
  std::vector<int32_t> pending;
  const auto add = [&](int32_t id) {
    pending.push_back(id);
    if (static_cast<int64_t>(pending.size()) == length) {
      windows.push_back(std::move(pending));
      pending = {};
    }
  };
  int64_t tokens = 0;
  for (const std::vector<int32_t>& line : lines) {
    for (int32_t id : line) add(id);
    add(separator);
    tokens += static_cast<int64_t>(line.size()) + 1;
  }
  if (windows.empty()) {
    throw InputError(source + ": " + std::to_string(tokens) + " tokens, fewer than one window of " +
                     std::to_string(length));
  }
  return windows;
}

std::vector<BertInput> pack_sequences(const std::vector<std::vector<int32_t>>& lines, int64_t seq_len,
                                      int32_t cls_id, int32_t sep_id) {
  if (seq_len < 8) throw InputError("--seq-len must be at least 8");
  const size_t body = static_cast<size_t>(seq_len - 2);
  std::vector<BertInput> sequences;
  std::vector<int32_t> pending;
  auto flush = [&] {
    BertInput input;
    input.input_ids.reserve(pending.size() + 2);
    input.input_ids.push_back(cls_id);
    input.input_ids.insert(input.input_ids.end(), pending.begin(), pending.end());
    input.input_ids.push_back(sep_id);
    input.token_type_ids.assign(input.input_ids.size(), 0);
    sequences.push_back(std::move(input));
    pending.clear();
  };
  for (const std::vector<int32_t>& line : lines) {
    size_t at = 0;
    while (at < line.size()) {
      const size_t take = std::min(body - pending.size(), line.size() - at);
      pending.insert(pending.end(), line.begin() + static_cast<std::ptrdiff_t>(at),
                     line.begin() + static_cast<std::ptrdiff_t>(at + take));
      at += take;
      if (pending.size() == body) flush();
    }
  }
  if (pending.size() >= body / 4) flush();  // a short tail is dropped rather than padded
  return sequences;
}

MaskedBatch mask_tokens(const std::vector<BertInput>& sequences, const BertTokenizer& tokenizer,
                        double probability, std::mt19937_64& generator) {
  if (tokenizer.mask_id() < 0)
    throw InputError("the vocabulary has no [MASK] token; masked-LM training needs one");
  MaskedBatch batch;
  batch.inputs = sequences;
  size_t padded_length = 0;
  for (const BertInput& input : sequences) padded_length = std::max(padded_length, input.input_ids.size());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::uniform_int_distribution<int32_t> random_token(0, static_cast<int32_t>(tokenizer.vocab_size()) - 1);
  const std::set<int32_t> specials = {tokenizer.cls_id(), tokenizer.sep_id(), tokenizer.pad_id()};
  auto corrupt = [&](size_t b, size_t position) {
    int32_t& id = batch.inputs[b].input_ids[position];
    batch.flat_positions.push_back(static_cast<int64_t>(b * padded_length + position));
    batch.targets.push_back(id);
    const double draw = uniform(generator);
    if (draw < 0.8) {
      id = tokenizer.mask_id();
    } else if (draw < 0.9) {
      id = random_token(generator);
    }
  };
  for (size_t b = 0; b < sequences.size(); ++b) {
    for (size_t position = 0; position < sequences[b].input_ids.size(); ++position) {
      if (specials.count(sequences[b].input_ids[position])) continue;
      if (uniform(generator) < probability) corrupt(b, position);
    }
  }
  if (batch.targets.empty()) {  // a tiny batch drew nothing: mask one token so the loss is defined
    for (size_t b = 0; b < sequences.size() && batch.targets.empty(); ++b) {
      for (size_t position = 0; position < sequences[b].input_ids.size(); ++position) {
        if (!specials.count(sequences[b].input_ids[position])) {
          corrupt(b, position);
          break;
        }
      }
    }
  }
  return batch;
}

std::vector<std::vector<size_t>> epoch_batches(const std::vector<int64_t>& lengths, int64_t batch_size,
                                               std::mt19937_64& generator) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), generator);
  const size_t size = static_cast<size_t>(batch_size);
  const size_t window = 50 * size;
  for (size_t first = 0; first < order.size(); first += window) {
    const auto begin = order.begin() + static_cast<std::ptrdiff_t>(first);
    const auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), first + window));
    std::stable_sort(begin, end, [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  }
  std::vector<std::vector<size_t>> batches;
  for (size_t first = 0; first < order.size(); first += size) {
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(first),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), first + size)));
  }
  std::shuffle(batches.begin(), batches.end(), generator);
  return batches;
}

}  // namespace latte::train
