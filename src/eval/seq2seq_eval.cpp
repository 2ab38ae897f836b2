#include "latte/eval/seq2seq_eval.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "latte/core/error.h"
#include "latte/eval/metrics.h"
#include "latte/generate/generate.h"

namespace latte {

std::string normalize_answer(std::string_view text) {
  std::string normal;
  bool space = false;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80 && std::ispunct(byte)) continue;
    if (byte < 0x80 && std::isspace(byte)) {
      space = !normal.empty();
      continue;
    }
    if (space) normal += ' ';
    space = false;
    normal += byte < 0x80 ? static_cast<char>(std::tolower(byte)) : c;
  }
  return normal;
}

Seq2SeqRuns run_seq2seq_targets(Seq2SeqLm& model, const Tokenizer& tokenizer,
                                const std::vector<data::InstructExample>& examples,
                                const std::vector<Seq2SeqEvalTarget>& targets,
                                const Seq2SeqEvalOptions& options) {
  if (targets.empty()) throw InputError("no targets to evaluate");
  Seq2SeqRuns runs;
  std::vector<std::vector<int32_t>> sources;
  int64_t longest_target = 0;
  for (const data::InstructExample& example : examples) {
    if (example.source.empty()) throw InputError("example " + example.id + " has an empty source");
    Encoding encoding = tokenizer.encode(example.source, model.max_source_tokens());
    if (encoding.truncated) ++runs.truncated_sources;
    sources.push_back(std::move(encoding.ids));
    longest_target =
        std::max(longest_target, static_cast<int64_t>(tokenizer.encode(example.target, 0).ids.size()));
  }
  runs.max_new_tokens = options.max_new_tokens > 0 ? options.max_new_tokens : longest_target + 2;
  runs.max_new_tokens = std::min(runs.max_new_tokens, model.max_target_tokens());
  for (const Seq2SeqEvalTarget& target : targets) warm_up(model, target.planner);

  runs.predictions.assign(targets.size(), std::vector<Seq2SeqPrediction>(examples.size()));
  GenerationOptions generation;
  generation.max_new_tokens = runs.max_new_tokens;
  std::vector<int32_t> cut;
  for (size_t i = 0; i < examples.size(); ++i) {
    const std::string gold = normalize_answer(examples[i].target);
    const auto n0 = static_cast<int64_t>(sources[i].size());
    for (size_t t = 0; t < targets.size(); ++t) {
      const Seq2SeqEvalTarget& target = targets[t];
      Seq2SeqPrediction& prediction = runs.predictions[t][i];
      std::span<const int32_t> source = sources[i];
      if (target.truncated_length) {
        // The first tokens and the final </s>, as a tokenizer's truncation keeps them.
        const int64_t length = std::clamp<int64_t>(target.truncated_length(n0), 1, n0);
        cut.assign(sources[i].begin(), sources[i].begin() + (length - 1));
        cut.push_back(sources[i].back());
        source = cut;
      }
      generation.planner = target.planner;
      const GenerationResult result = generate(model, source, generation);
      prediction.text = tokenizer.decode(ids_with_tokens(tokenizer, result.ids));
      prediction.exact = normalize_answer(prediction.text) == gold;
      prediction.encoder_seconds = result.encoder_seconds;
      prediction.total_seconds = result.ttft_seconds + result.decode_seconds;
      double kept = 0.0;
      for (const int64_t rows : result.kept) kept += static_cast<double>(rows) / static_cast<double>(n0);
      prediction.kept_fraction = result.kept.empty() ? 1.0 : kept / static_cast<double>(result.kept.size());
      if (target.planner != nullptr)
        prediction.predicted_speedup = target.planner->plan(n0).predicted_speedup.value_or(1.0);
      if (target.truncated_length) prediction.predicted_speedup = target.speedup;  // chosen to match
    }
    if (options.on_progress) options.on_progress(i + 1, examples.size());
  }
  return runs;
}

namespace {

// Class index of an answer among the task's classes; classes.size() for any other answer.
int64_t class_of(const std::string& answer, const std::vector<std::string>& normal_classes) {
  const auto found = std::find(normal_classes.begin(), normal_classes.end(), normalize_answer(answer));
  return static_cast<int64_t>(found - normal_classes.begin());
}

}  // namespace

std::vector<std::vector<Seq2SeqGroupScore>> score_seq2seq_runs(
    const std::vector<data::InstructExample>& examples, const Seq2SeqRuns& runs, int resamples) {
  // Groups: each (task, style) in order of appearance, then everything.
  std::vector<std::pair<std::string, std::string>> keys;
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> members;
  for (size_t i = 0; i < examples.size(); ++i) {
    const std::pair<std::string, std::string> key{examples[i].task, examples[i].style};
    if (!members.contains(key)) keys.push_back(key);
    members[key].push_back(i);
  }
  keys.emplace_back("all", "all");
  for (size_t i = 0; i < examples.size(); ++i) members[keys.back()].push_back(i);

  const size_t target_count = runs.predictions.size();
  std::vector<std::vector<Seq2SeqGroupScore>> scores(target_count);
  for (const auto& key : keys) {
    const std::vector<size_t>& group = members[key];
    // Macro-F1 only where every example of the group is of one classification task.
    const std::vector<std::string>& classes = examples[group.front()].classes;
    const bool classification = !classes.empty() && std::all_of(group.begin(), group.end(), [&](size_t i) {
      return examples[i].task == examples[group.front()].task && examples[i].classes == classes;
    });
    std::vector<std::string> normal_classes;
    for (const std::string& name : classes) normal_classes.push_back(normalize_answer(name));
    std::vector<int64_t> gold;
    std::vector<std::vector<int64_t>> predicted(target_count);
    if (classification) {
      for (const size_t i : group) {
        gold.push_back(class_of(examples[i].target, normal_classes));
        for (size_t t = 0; t < target_count; ++t)
          predicted[t].push_back(class_of(runs.predictions[t][i].text, normal_classes));
      }
    }
    // Statistics per target: exact match, its change against target 0, macro-F1.
    const size_t per_target = classification ? 3 : 2;
    const auto statistics = [&](std::span<const size_t> draw, std::span<double> values) {
      std::vector<int64_t> draw_gold, draw_predicted;
      for (size_t t = 0; t < target_count; ++t) {
        double exact = 0, base = 0;
        for (const size_t d : draw) {
          exact += runs.predictions[t][group[d]].exact ? 1 : 0;
          base += runs.predictions[0][group[d]].exact ? 1 : 0;
        }
        values[t * per_target] = exact / static_cast<double>(draw.size());
        values[t * per_target + 1] = (exact - base) / static_cast<double>(draw.size());
        if (classification) {
          draw_gold.clear();
          draw_predicted.clear();
          for (const size_t d : draw) {
            draw_gold.push_back(gold[d]);
            draw_predicted.push_back(predicted[t][d]);
          }
          values[t * per_target + 2] =
              eval::macro_f1(draw_predicted, draw_gold, static_cast<int64_t>(classes.size()) + 1);
        }
      }
    };
    const std::vector<PairedEstimate> estimates =
        paired_bootstrap(group.size(), per_target * target_count, resamples, statistics);

    double base_encoder = 0, base_total = 0;
    for (const size_t i : group) {
      base_encoder += runs.predictions[0][i].encoder_seconds;
      base_total += runs.predictions[0][i].total_seconds;
    }
    for (size_t t = 0; t < target_count; ++t) {
      Seq2SeqGroupScore score;
      score.task = key.first;
      score.style = key.second;
      score.examples = group.size();
      score.exact_match = estimates[t * per_target];
      if (t > 0) score.change = estimates[t * per_target + 1];
      if (classification) score.macro_f1 = estimates[t * per_target + 2];
      double encoder = 0, total = 0, kept = 0, predicted_sum = 0;
      for (const size_t i : group) {
        const Seq2SeqPrediction& prediction = runs.predictions[t][i];
        encoder += prediction.encoder_seconds;
        total += prediction.total_seconds;
        kept += prediction.kept_fraction;
        predicted_sum += prediction.predicted_speedup;
      }
      const auto count = static_cast<double>(group.size());
      score.encoder_ms = encoder / count * 1e3;
      score.total_ms = total / count * 1e3;
      score.encoder_speedup = encoder > 0 ? base_encoder / encoder : 1.0;
      score.total_speedup = total > 0 ? base_total / total : 1.0;
      score.kept_fraction = kept / count;
      score.predicted_speedup = predicted_sum / count;
      scores[t].push_back(std::move(score));
    }
  }
  return scores;
}

}  // namespace latte
