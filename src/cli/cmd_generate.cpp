// latte generate: continue prompts with a decoder (GPT-2), eliminating word-vectors in the
// latte generate: continue prompts with a decoder (GPT-2, Llama), eliminating word-vectors in the
// prefill, or answer them with an encoder-decoder (T5), eliminating word-vectors in the encoder;
// streams text as it is produced. With --chat each prompt is a user turn of the folder's chat
// template (tokenizers/chat.h).
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "common.h"
#include "latte/core/error.h"
#include "latte/generate/language_model.h"
#include "latte/generate/prompt_run.h"
#include "latte/models/registry.h"
#include "latte/tokenizers/chat.h"
#include "latte/tokenizers/tokenizer.h"

namespace latte::cli {

namespace {

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) { interrupted = true; }

std::vector<int32_t> parse_prompt_ids(const std::string& text) {
  std::vector<int32_t> ids;
  for (const int64_t value : parse_integer_list(text, "--prompt-ids", "--prompt-ids 464,2068,7586")) {
    if (value < 0 || value > INT32_MAX) {
      throw InputError("--prompt-ids: " + std::to_string(value) + " is not a token id");
    }
    ids.push_back(static_cast<int32_t>(value));
  }
  return ids;
}

// Elimination plans the decoder's prefill, or the encoder of an encoder-decoder model, from its
// table measured on this machine.
LatencyModel latency_for(const LanguageModel& model, bool needs, bool no_profile) {
  return model.causal() ? decoder_latency_for(*model.causal(), needs, no_profile)
                        : seq2seq_latency_for(*model.seq2seq(), needs, no_profile);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "generate",
      "Continue prompts with a decoder model (GPT-2) or answer them with an encoder-decoder (T5)");
  struct Options {
    std::string model;
    std::string input;
    RecordFlags records;
    std::vector<std::string> texts;
    std::string prompt_ids;
    int64_t max_new_tokens = 32;
    std::optional<double> temperature;
    std::optional<int64_t> top_k;
    std::optional<double> top_p;
    uint64_t seed = 0;
    std::vector<std::string> stop;
    bool chat = false;
    std::optional<std::string> system;
    bool json = false;
    bool logits = false;
    bool truncate = false;
    std::optional<int> threads;
    PruneOptions prune;
    std::string dtype;  // empty: as the folder stores it
  };
  auto options = std::make_shared<Options>();
  command
      ->add_option("--model", options->model,
                   "Hugging Face decoder (GPT-2, Llama, Mistral, Qwen2) or encoder-decoder (T5) folder")
      ->required();
  command->add_option("--input", options->input,
                      "File of prompts: one per line, JSONL, CSV or TSV (see --format; '-' = stdin)");
  add_record_options(*command, options->records);
  command->add_option("--prompt-ids", options->prompt_ids, "Token ids of one prompt, comma-separated");
  command->add_option("--max-new-tokens", options->max_new_tokens, "Tokens to generate at most (default 32)");
  command->add_option("--temperature", options->temperature, "Sample with this temperature (> 0)");
  command->add_option("--top-k", options->top_k, "Sample from the k most likely tokens");
  command->add_option("--top-p", options->top_p, "Sample from the smallest set with this probability mass");
  command->add_option("--seed", options->seed, "Random seed for sampling (default 0)");
  command->add_option("--stop", options->stop, "End a continuation once its text contains STR (repeatable)");
  command->add_flag("--chat", options->chat,
                    "Wrap each prompt as a user message in the folder's chat template (Llama 3's form, from "
                    "tokenizer_config.json) and stop at the end of the assistant's turn");
  command->add_option("--system", options->system, "With --chat: the system message");
  command->add_flag(
      "--json", options->json,
      "One JSON object per prompt: ids, text, kept, timings (setup_ms: the warm-up before the first "
      "prompt and planning; ttft_ms: prefill and first token), KV-cache bytes");
  command->add_flag("--logits", options->logits, "With --json: add the prefill's last-position logits");
  command->add_flag("--truncate,!--no-truncate", options->truncate,
                    "Drop the start of prompts too long for the model (one notice per run) instead of "
                    "failing (--no-truncate, the default)");
  add_threads_option(*command, options->threads);
  command->add_option("text", options->texts, "Prompts, one continuation each");
  add_prune_options(*command, options->prune);
  add_dtype_option(*command, options->dtype);
  command->callback([options] {
    setup_threads(options->threads);
    const std::filesystem::path folder = model_folder(options->model);
    const int given = (options->input.empty() ? 0 : 1) + (options->texts.empty() ? 0 : 1) +
                      (options->prompt_ids.empty() ? 0 : 1);
    if (given == 0) throw InputError("nothing to continue: give TEXT, --input FILE or --prompt-ids");
    if (given > 1) throw InputError("give one of TEXT, --input and --prompt-ids");
    if (options->max_new_tokens < 1) {
      throw InputError("--max-new-tokens must be at least 1, got " + std::to_string(options->max_new_tokens));
    }
    if (options->logits && !options->json) throw InputError("--logits needs --json");
    if (options->system && !options->chat) throw InputError("--system needs --chat");
    if (options->chat && !options->prompt_ids.empty()) {
      throw InputError("--chat takes text prompts (TEXT or --input), not --prompt-ids");
    }

    SamplingOptions sampling;
    sampling.sample = options->temperature || options->top_k || options->top_p;
    sampling.temperature = options->temperature.value_or(1.0);
    sampling.top_k = options->top_k.value_or(0);
    sampling.top_p = options->top_p.value_or(1.0);
    sampling.seed = options->seed;
    try {
      sampling.validate();
    } catch (const InputError& error) {
      throw InputError(std::string("--") + error.what());
    }

    const LanguageModel model = LanguageModel::load(folder, requested_precision(options->dtype, folder));
    const int64_t longest_prompt = model.longest_prompt(options->max_new_tokens, "--max-new-tokens");
    // Text prompts need the tokenizer; token-id prompts print text when there is one.
    std::unique_ptr<Tokenizer> tokenizer;
    if (options->prompt_ids.empty()) {
      tokenizer = load_tokenizer(folder);
    } else {
      try {
        tokenizer = load_tokenizer(folder);
      } catch (const Error&) {
        tokenizer = nullptr;
      }
    }
    if (tokenizer) check_tokenizer_fits(*tokenizer, model.vocab_size(), folder / "config.json");
    std::optional<ChatTemplate> chat;
    std::vector<int32_t> end_of_turn_ids;  // the model's eos ids end a run too, in generate()
    if (options->chat) {
      chat = ChatTemplate::from_dir(folder);
      end_of_turn_ids = chat->stop_ids(*tokenizer);
    }
    use_default_knob(options->prune, folder);
    const std::unique_ptr<Planner> planner =
        make_planner(options->prune, model.shape(), folder,
                     [&](bool needs) { return latency_for(model, needs, options->prune.no_profile); });

    GenerationOptions generation;
    generation.max_new_tokens = options->max_new_tokens;
    generation.sampling = sampling;
    generation.planner = planner.get();
    generation.keep_first_logits = options->logits;

    // One-time costs before the first prompt's clock; reported with it as setup_ms.
    double pending_setup_seconds = model.warm_up(planner.get());
    std::signal(SIGINT, on_interrupt);
    Truncation truncation{.max_length = longest_prompt, .refuse = !options->truncate};
    PromptOptions prompt_options;
    prompt_options.generation = generation;
    prompt_options.longest_prompt = longest_prompt;
    prompt_options.truncate = options->truncate;
    prompt_options.truncate_hint = "(or use --truncate)";
    prompt_options.stop = options->stop;
    prompt_options.end_of_turn_ids = end_of_turn_ids;
    const auto run = [&](std::vector<int32_t> prompt_ids, const std::string& origin) {
      size_t printed_ids = 0;
      const auto on_token = [&](int32_t id, const std::string& piece) {
        if (!options->json) {
          if (tokenizer)
            std::cout << piece << std::flush;
          else if (id >= 0)
            std::cout << (printed_ids++ > 0 ? " " : "") << id << std::flush;
        }
        return !interrupted.load();
      };
      const PromptResult outcome =
          run_prompt(model, tokenizer.get(), std::move(prompt_ids), origin, prompt_options, on_token);
      ++truncation.inputs;
      if (outcome.truncated) ++truncation.truncated;
      const std::vector<int32_t>& prompt = outcome.prompt;
      const GenerationResult& result = outcome.generation;
      const std::string& text = outcome.text;
      const double setup_seconds = pending_setup_seconds + result.setup_seconds;
      pending_setup_seconds = 0.0;
      if (options->json) {
        nlohmann::json line = {
            {"prompt_ids", prompt},
            {"ids", result.ids},
            {"kept", result.kept},
            {"stop_reason", interrupted ? "interrupted" : outcome.stop_reason},
            {"setup_ms", setup_seconds * 1e3},
            {"ttft_ms", result.ttft_seconds * 1e3},
            {"decode_ms_per_token", result.decode_seconds_per_token() * 1e3},
            {"kv_cache_bytes", result.kv_cache_bytes},
            {"kv_cache_bytes_dense", result.kv_cache_bytes_dense},
        };
        if (model.seq2seq()) line["encoder_ms"] = result.encoder_seconds * 1e3;
        if (tokenizer) line["text"] = text;
        const SequencePlan& plan = planner->plan(static_cast<int64_t>(prompt.size()));
        line["predicted_speedup"] =
            plan.predicted_speedup ? nlohmann::json(*plan.predicted_speedup) : nlohmann::json(1.0);
        if (options->logits) line["first_logits"] = result.first_logits;
        std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      } else {
        std::cout << "\n";
      }
      std::cout.flush();
    };

    if (!options->prompt_ids.empty()) {
      run(parse_prompt_ids(options->prompt_ids), "--prompt-ids");
    } else {
      data::RecordReader inputs = data::RecordReader::from_inputs({});
      if (!options->input.empty()) {
        inputs = data::RecordReader::from_file(options->input, record_options(options->records));
      } else {
        std::vector<data::LabeledExample> given_texts;
        for (size_t i = 0; i < options->texts.size(); ++i) {
          given_texts.push_back(
              data::LabeledExample{.text = options->texts[i], .origin = "argument " + std::to_string(i + 1)});
        }
        inputs = data::RecordReader::from_inputs(std::move(given_texts));
      }
      size_t prompts = 0;
      for (data::LabeledExample input; !interrupted && reading_records([&] { return inputs.next(input); });
           ++prompts) {
        if (!chat) {
          run(encode_input(*tokenizer, input.text, std::nullopt, 0, input.origin).ids, input.origin);
          continue;
        }
        std::vector<int32_t> ids;
        try {
          ids = chat->encode(*tokenizer, options->system, input.text);
        } catch (const InputError& error) {
          throw InputError(input.origin + ": " + error.what());
        }
        run(std::move(ids), input.origin);
      }
      if (prompts == 0) std::cerr << "latte: notice: no prompts to continue (the input is empty)\n";
    }
    if (truncation.truncated > 0) {
      // Kept: the end of the prompt, which the continuation follows.
      const bool one = truncation.truncated == 1;
      std::cerr << "latte: notice: " << truncation.truncated << " of " << truncation.inputs
                << (truncation.inputs == 1 ? " prompt " : " prompts ") << (one ? "was" : "were")
                << " longer than " << longest_prompt << " tokens ("
                << model.limit(options->max_new_tokens, "--max-new-tokens") << ") and "
                << (one ? "was" : "were") << " cut to " << (one ? "its" : "their")
                << (model.causal() ? " last " + std::to_string(longest_prompt)
                                   : " first " + std::to_string(longest_prompt - 1) + " and final token")
                << "\n";
    }
    if (interrupted) {
      std::cerr << "latte: interrupted\n";
      std::exit(130);
    }
  });
}

}  // namespace latte::cli
