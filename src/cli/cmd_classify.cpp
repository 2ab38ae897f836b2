// latte classify: labels (or regression scores) for texts and text pairs.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common.h"
#include "latte/core/error.h"
#include "latte/models/bert.h"
#include "latte/tokenizers/bert_tokenizer.h"

namespace latte::cli {

namespace {

std::string format_float(float value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.4f", value);
  return buffer;
}

}  // namespace

void add_classify_command(CLI::App& app) {
  auto* command = app.add_subcommand("classify", "Classify texts (or score them, for regression models)");
  struct Options {
    std::string model;
    std::string input;
    RecordFlags records;
    std::vector<std::string> texts;
    bool json = false;
    int batch_size = 16;
    std::optional<int> threads;
    TruncationOptions truncation;
    PruneOptions prune;
    std::string dtype;  // empty: as the folder stores it
  };
  auto options = std::make_shared<Options>();
  command->add_option("--model", options->model, kModelHelp);
  command->add_option("--input", options->input,
                      "File of texts: one per line, JSONL, CSV or TSV (see --format; '-' = stdin)");
  add_record_options(*command, options->records);
  command->add_option("--batch-size", options->batch_size, "Inputs per forward pass")
      ->check(CLI::Range(1, 4096));
  add_threads_option(*command, options->threads);
  command->add_flag(
      "--json", options->json,
      "One JSON object per line: {\"label\", \"probs\", \"logits\"} or {\"score\", \"logits\"}");
  command->add_option("text", options->texts, "Texts to classify, one input each");
  add_truncation_options(*command, options->truncation);
  add_prune_options(*command, options->prune);
  add_dtype_option(*command, options->dtype);
  command->callback([options] {
    setup_threads(options->threads);
    const auto folder = model_folder(options->model);
    BertModel model = BertModel::load(folder, requested_precision(options->dtype, folder));
    options->prune.precision = model.precision();
    const BertConfig& config = model.config();
    if (!config.has_classifier()) {
      throw InputError("model " + folder.string() + " is a " + config.architecture +
                       " without a classification head; classify needs BertForSequenceClassification");
    }
    use_default_knob(options->prune, folder);
    const std::unique_ptr<Planner> planner =
        make_planner(options->prune, config, folder, [&]() -> BertModel& { return model; });
    ForwardOptions forward_options;
    forward_options.planner = planner.get();
    const BertTokenizer tokenizer = load_bert_tokenizer(folder, config);
    const int64_t positions = config.max_position_embeddings;
    Truncation truncation = truncation_from(options->truncation, positions);

    data::RecordReader inputs = data::RecordReader::from_inputs({});
    if (!options->input.empty()) {
      if (!options->texts.empty()) throw InputError("give either TEXT arguments or --input, not both");
      inputs = data::RecordReader::from_file(options->input, record_options(options->records));
    } else {
      if (options->texts.empty()) throw InputError("nothing to classify: give TEXT ... or --input FILE");
      std::vector<data::LabeledExample> given;
      for (size_t i = 0; i < options->texts.size(); ++i) {
        given.push_back(
            data::LabeledExample{.text = options->texts[i], .origin = "argument " + std::to_string(i + 1)});
      }
      inputs = data::RecordReader::from_inputs(std::move(given));
    }

    // One batch of the input at a time: reading, running and printing stay in step, so memory does
    // not grow with the input file.
    const size_t batch_size = static_cast<size_t>(options->batch_size);
    std::vector<BertInput> batch;
    for (data::LabeledExample input; true;) {
      batch.clear();
      while (batch.size() < batch_size && reading_records([&] { return inputs.next(input); })) {
        Encoding encoding = encode_input(tokenizer, input.text, input.text_pair, truncation, input.origin);
        batch.push_back(BertInput{std::move(encoding.ids), std::move(encoding.type_ids)});
      }
      if (batch.empty()) break;
      const BertOutput output = model.forward(batch, forward_options);
      const int64_t labels = config.num_labels;
      for (size_t b = 0; b < batch.size(); ++b) {
        const float* logits = output.logits.data() + static_cast<int64_t>(b) * labels;
        const std::vector<float> logit_list(logits, logits + labels);
        nlohmann::json line;
        if (planner->has_target() || !planner->dense()) {
          line["kept"] = output.kept[b];
          const SequencePlan& plan = planner->plan(static_cast<int64_t>(batch[b].input_ids.size()));
          if (plan.predicted_speedup) line["predicted_speedup"] = *plan.predicted_speedup;
        }
        if (config.is_regression()) {
          if (options->json) {
            line["score"] = logits[0];
            line["logits"] = logit_list;
            std::cout << line.dump() << "\n";
          } else {
            std::cout << format_float(logits[0]) << "\n";
          }
          continue;
        }
        const std::vector<float> probabilities = label_probabilities({logits, static_cast<size_t>(labels)});
        const size_t best = static_cast<size_t>(std::max_element(probabilities.begin(), probabilities.end()) -
                                                probabilities.begin());
        if (options->json) {
          line["label"] = config.id2label[best];
          line["probs"] = probabilities;
          line["logits"] = logit_list;
          std::cout << line.dump() << "\n";
        } else {
          std::cout << config.id2label[best] << "\t" << format_float(probabilities[best]) << "\n";
        }
      }
      std::cout.flush();
    }
    print_truncation_notice(truncation, positions);
  });
}

}  // namespace latte::cli
