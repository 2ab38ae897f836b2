// latte tokenize: the ids and word pieces the model would see.
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.h"
#include "latte/core/error.h"
#include "latte/models/registry.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::cli {

void add_tokenize_command(CLI::App& app) {
  auto* command =
      app.add_subcommand("tokenize", "Tokenize texts (or a text pair) with the model's tokenizer");
  struct Options {
    std::string model;
    std::string input;
    RecordFlags records;
    std::vector<std::string> texts;
    bool json = false;
    int max_length = 0;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--input", options->input,
                      "File of texts: one per line, JSONL, CSV or TSV (see --format; '-' = stdin)");
  add_record_options(*command, options->records);
  command->add_option("--max-length", options->max_length, "Truncate to this many tokens (default: model's)");
  command->add_flag("--json", options->json, "One JSON object per line: {\"ids\": [...], \"tokens\": [...]}");
  command->add_option("text", options->texts, "TEXT [TEXT_PAIR]")->expected(0, 2);
  command->callback([options] {
    const auto folder = model_folder(options->model);
    const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(folder);
    int64_t max_length = max_input_tokens(folder, *tokenizer);
    if (options->max_length != 0) {
      // A WordPiece encoding needs room for [CLS], one piece and [SEP].
      const int64_t min_length = tokenizer->kind() == "wordpiece" ? 3 : 1;
      if (options->max_length < min_length || options->max_length > max_length) {
        throw InputError("--max-length must be between " + std::to_string(min_length) + " and " +
                         std::to_string(max_length));
      }
      max_length = options->max_length;
    }
    data::RecordReader inputs = data::RecordReader::from_inputs({});
    if (!options->input.empty()) {
      if (!options->texts.empty()) throw InputError("give either TEXT arguments or --input, not both");
      inputs = data::RecordReader::from_file(options->input, record_options(options->records));
    } else if (options->texts.empty()) {
      throw InputError("nothing to tokenize: give TEXT [TEXT_PAIR] or --input FILE");
    } else {
      data::LabeledExample input{.text = options->texts[0], .origin = "argument 1"};
      if (options->texts.size() == 2) input.text_pair = options->texts[1];
      std::vector<data::LabeledExample> given;
      given.push_back(std::move(input));
      inputs = data::RecordReader::from_inputs(std::move(given));
    }
    for (data::LabeledExample input; reading_records([&] { return inputs.next(input); });) {
      const Encoding encoding =
          encode_input(*tokenizer, input.text, input.text_pair, max_length, input.origin);
      if (options->json) {
        nlohmann::json line = {{"ids", encoding.ids}, {"tokens", encoding.tokens}};
        if (input.text_pair) line["type_ids"] = encoding.type_ids;
        std::cout << line.dump() << "\n";
      } else {
        for (size_t i = 0; i < encoding.tokens.size(); ++i) std::cout << (i ? " " : "") << encoding.tokens[i];
        std::cout << "\t";
        for (size_t i = 0; i < encoding.ids.size(); ++i) std::cout << (i ? " " : "") << encoding.ids[i];
        std::cout << "\n";
      }
    }
  });
}

}  // namespace latte::cli
