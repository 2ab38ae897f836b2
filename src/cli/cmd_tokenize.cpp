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
    TruncationOptions truncation;
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--input", options->input,
                      "File of texts: one per line, JSONL, CSV or TSV (see --format; '-' = stdin)");
  add_record_options(*command, options->records);
  add_truncation_options(*command, options->truncation);
  command->add_flag("--json", options->json, "One JSON object per line: {\"ids\": [...], \"tokens\": [...]}");
  command->add_option("text", options->texts, "TEXT [TEXT_PAIR]")->expected(0, 2);
  command->callback([options] {
    const auto folder = model_folder(options->model);
    const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(folder);
    const int64_t positions = max_input_tokens(folder, *tokenizer);
    // A WordPiece encoding needs room for [CLS], one piece and [SEP].
    Truncation truncation =
        truncation_from(options->truncation, positions, tokenizer->kind() == "wordpiece" ? 3 : 1);
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
          encode_input(*tokenizer, input.text, input.text_pair, truncation, input.origin);
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
    print_truncation_notice(truncation, positions);
  });
}

}  // namespace latte::cli
