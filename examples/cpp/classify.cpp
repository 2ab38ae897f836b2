// classify MODEL_DIR TEXT: the label of TEXT from a BERT classifier folder, at speedup 2.
// Build it against an installed latte (see CMakeLists.txt beside it); docs/library.md.
#include <algorithm>
#include <iostream>

#include "latte/core/error.h"
#include "latte/models/bert.h"
#include "latte/prune/plan.h"
#include "latte/prune/sidecar.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: classify MODEL_DIR TEXT\n";
    return 2;
  }
  try {
    const std::filesystem::path folder = argv[1];
    latte::BertModel model = latte::BertModel::load(folder);
    const latte::BertConfig& config = model.config();
    if (!config.has_classifier()) throw latte::InputError(folder.string() + " has no classification head");
    const latte::BertTokenizer tokenizer = latte::load_bert_tokenizer(folder, config);

    // Speedup 2, with the folder's calibration when latte.json has one. The latency is predicted
    // from FLOPs here; `latte profile` measures a per-machine table that the CLI uses instead.
    latte::Knobs knobs;
    knobs.speedup = 2.0;
    std::optional<latte::Calibration> calibration =
        latte::usable_calibration(knobs, latte::Sidecar::read(folder).calibration, config.num_layers);
    const latte::Planner planner(knobs, model.shape(), std::move(calibration), latte::LatencyModel{},
                                 &std::cerr);

    const latte::Encoding encoding = tokenizer.encode(argv[2], config.max_position_embeddings);
    latte::ForwardOptions options;
    options.planner = &planner;
    const latte::BertOutput output =
        model.forward({latte::BertInput{encoding.ids, encoding.type_ids}}, options);

    const float* logits = output.logits.data();
    const auto best = std::max_element(logits, logits + config.num_labels) - logits;
    std::cout << config.id2label[static_cast<size_t>(best)] << " (word-vectors kept per layer:";
    for (const int64_t kept : output.kept[0]) std::cout << " " << kept;
    std::cout << ")\n";
  } catch (const latte::Error& error) {
    std::cerr << "classify: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
