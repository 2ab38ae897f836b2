// The trainer: schedule, data errors, a few steps that reduce the loss,
// save -> engine round trip, resume, and MLM checkpoints feeding fine-tuning.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "latte/core/error.h"
#include "latte/core/memory.h"
#include "latte/models/bert.h"
#include "latte/train/bert_modules.h"
#include "latte/train/checkpoint.h"
#include "latte/train/datasets.h"
#include "latte/train/torch_ops.h"
#include "latte/train/trainer.h"
#include "test_support.h"

namespace latte {
namespace {

using test_support::TempDir;

const std::filesystem::path kData = LATTE_TEST_DATA_DIR;

void write_file(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary);
  file << contents;
}

// Sentences over the cls3 test vocabulary whose label is the sentiment word in them.
std::string sentiment_jsonl(int count, uint64_t seed) {
  const char* positive[] = {"good", "great", "fun", "happy", "love", "best"};
  const char* negative[] = {"bad", "awful", "boring", "sad", "hate", "worst"};
  const char* filler[] = {"the", "movie", "film", "book",   "story", "plot",
                          "was", "is",    "very", "really", "a",     "it"};
  std::mt19937_64 generator(seed);
  std::ostringstream out;
  for (int i = 0; i < count; ++i) {
    const bool is_positive = generator() % 2 == 0;
    std::string text;
    const int words = 3 + static_cast<int>(generator() % 8);
    const int where = static_cast<int>(generator() % static_cast<uint64_t>(words));
    for (int w = 0; w < words; ++w) {
      if (!text.empty()) text += " ";
      text += w == where ? (is_positive ? positive : negative)[generator() % 6] : filler[generator() % 12];
    }
    out << R"({"text": ")" << text << R"(", "label": ")" << (is_positive ? "pos" : "neg") << "\"}\n";
  }
  return out.str();
}

double mean(const std::vector<double>& values, size_t first, size_t count) {
  return std::accumulate(values.begin() + static_cast<std::ptrdiff_t>(first),
                         values.begin() + static_cast<std::ptrdiff_t>(first + count), 0.0) /
         static_cast<double>(count);
}

train::ClassifierOptions sentiment_options(const TempDir& dir) {
  write_file(dir.path() / "train.jsonl", sentiment_jsonl(512, 1));
  write_file(dir.path() / "dev.jsonl", sentiment_jsonl(64, 2));
  train::ClassifierOptions options;
  options.init = kData / "bert" / "cls3_f32";
  options.train = dir.path() / "train.jsonl";
  options.dev = dir.path() / "dev.jsonl";
  options.out = dir.path() / "out";
  options.batch_size = 16;
  options.learning_rate = 3e-3;
  options.warmup_fraction = 0.0;
  options.steps = 120;
  options.eval_every = 60;
  options.train_speedup_range = std::make_pair(1.0, 3.0);
  options.threads = 1;
  options.interactive = false;
  return options;
}

// Large tensors on huge-page-aligned blocks, small ones 64-byte aligned, both usable and freed;
// where the kernel has transparent huge pages off, the allocator is left as it was.
TEST(TrainAllocator, LargeTensorsAreHugePageAligned) {
  const uintptr_t page = huge_page_bytes();  // checked against the kernel's files in AllocateAligned
  ASSERT_EQ(train::use_huge_page_allocator(), page != 0);
  if (page == 0) GTEST_SKIP() << "transparent huge pages are off here";
  const torch::Tensor large = torch::ones({3, 1 << 20});  // 12 MiB
  const torch::Tensor small = torch::ones({100});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.data_ptr()) % page, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data_ptr()) % 64, 0u);
  EXPECT_EQ(large.sum().item<double>(), 3.0 * (1 << 20));
  EXPECT_EQ((small * 2).sum().item<double>(), 200.0);
  EXPECT_EQ(torch::empty({0}).numel(), 0);
}

TEST(TrainSchedule, WarmupThenLinearDecay) {
  EXPECT_DOUBLE_EQ(train::learning_rate_at(0, 100, 10, 1.0), 0.1);
  EXPECT_DOUBLE_EQ(train::learning_rate_at(9, 100, 10, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(train::learning_rate_at(10, 100, 10, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(train::learning_rate_at(55, 100, 10, 1.0), 0.5);
  EXPECT_DOUBLE_EQ(train::learning_rate_at(99, 100, 10, 1.0), 1.0 / 90.0);
  EXPECT_DOUBLE_EQ(train::learning_rate_at(0, 100, 0, 2.0), 2.0);
}

TEST(TrainData, BadJsonlLineNamesFileAndLine) {
  TempDir dir("train_bad_jsonl");
  const std::filesystem::path file = dir.path() / "train.jsonl";
  write_file(file, "{\"text\": \"fine\", \"label\": \"a\"}\n\n{\"text\": \"no label\"}\n");
  try {
    train::read_labelled_examples(file);
    FAIL() << "expected an InputError";
  } catch (const FieldError& error) {
    EXPECT_EQ(error.field(), "label field");
    EXPECT_NE(std::string(error.what()).find(file.string() + ":3 has no label"), std::string::npos)
        << error.what();
  }
  write_file(file, "{\"text\": \"fine\", \"label\": \"a\"}\n{\"text\": oops}\n");
  EXPECT_THROW(train::read_labelled_examples(file), InputError);
  write_file(file, "");
  EXPECT_THROW(train::read_labelled_examples(file), InputError);
  EXPECT_THROW(train::read_labelled_examples(dir.path() / "missing.jsonl"), InputError);
}

TEST(TrainData, BadTextLineNamesFileAndLine) {
  TempDir dir("train_bad_text");
  const BertTokenizer tokenizer = BertTokenizer::from_dir(kData / "bert" / "cls3_f32");
  const std::filesystem::path file = dir.path() / "train.txt";
  write_file(file, "the movie was good\nthe plot \xff\xfe was bad\n");
  try {
    train::read_text_lines(file, tokenizer);
    FAIL() << "expected an InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find(file.string() + ":2:"), std::string::npos) << error.what();
  }
}

TEST(TrainData, LabelsFromTheData) {
  std::vector<train::LabelledText> examples(3);
  examples[0].label = "spam";
  examples[1].label = "ham";
  examples[2].label = "spam";
  const train::LabelSet classes = train::LabelSet::infer(examples);
  EXPECT_FALSE(classes.regression);
  EXPECT_EQ(classes.names, (std::vector<std::string>{"ham", "spam"}));
  EXPECT_EQ(classes.target("spam", "x:1"), 1.0f);
  EXPECT_THROW(classes.target("eggs", "x:1"), InputError);
  examples[0].label = 0.5;
  examples[1].label = 4;
  examples[2].label = 3.25;
  EXPECT_TRUE(train::LabelSet::infer(examples).regression);
}

TEST(TrainData, PackingAndMasking) {
  const std::vector<std::vector<int32_t>> lines = {
      {10, 11, 12, 13, 14}, {20, 21, 22}, {30, 31, 32, 33, 34, 35}};
  const std::vector<BertInput> packed = train::pack_sequences(lines, 8, 2, 3);
  ASSERT_EQ(packed.size(), 3u);
  EXPECT_EQ(packed[0].input_ids, (std::vector<int32_t>{2, 10, 11, 12, 13, 14, 20, 3}));
  EXPECT_EQ(packed[1].input_ids, (std::vector<int32_t>{2, 21, 22, 30, 31, 32, 33, 3}));
  EXPECT_EQ(packed[2].input_ids, (std::vector<int32_t>{2, 34, 35, 3}));
  const BertTokenizer tokenizer = BertTokenizer::from_dir(kData / "bert" / "cls3_f32");
  std::mt19937_64 generator(3);
  const train::MaskedBatch masked = train::mask_tokens(packed, tokenizer, 0.5, generator);
  ASSERT_FALSE(masked.targets.empty());
  for (size_t i = 0; i < masked.targets.size(); ++i) {
    const int64_t flat = masked.flat_positions[i];
    EXPECT_EQ(packed[static_cast<size_t>(flat / 8)].input_ids[static_cast<size_t>(flat % 8)],
              masked.targets[i]);
    EXPECT_NE(masked.targets[i], 2);
    EXPECT_NE(masked.targets[i], 3);
  }
}

// A few steps of fine-tuning with elimination reduce the loss; the best
// checkpoint loads in the engine and gives the torch model's logits; a second
// run resumes where the first stopped.
TEST(TrainClassifier, LearnsSavesLoadsInTheEngineAndResumes) {
  TempDir dir("train_classify");
  train::ClassifierOptions options = sentiment_options(dir);
  std::ostringstream log;
  const train::TrainResult result = train::train_classifier(options, log);
  ASSERT_EQ(result.losses.size(), 120u);
  EXPECT_LT(mean(result.losses, 110, 10), 0.8 * mean(result.losses, 0, 10)) << log.str();
  ASSERT_TRUE(result.best);
  EXPECT_GT(result.best->metrics["S=1"]["accuracy"].get<double>(), 0.75) << log.str();

  // The saved classifier, through the engine and through torch.
  BertModel engine = BertModel::load(options.out);
  EXPECT_EQ(engine.config().id2label, (std::vector<std::string>{"neg", "pos"}));
  train::BertClassifier reloaded(train::read_bert_config(options.out));
  train::load_hf_weights(options.out, reloaded->hf_weights(), nullptr);
  reloaded->eval();
  const BertTokenizer tokenizer = BertTokenizer::from_dir(options.out);
  std::vector<BertInput> batch;
  for (const char* text :
       {"the movie was great fun", "a boring plot", "it is really the worst book i read"}) {
    const Encoding encoding = tokenizer.encode(text, 64);
    batch.push_back({encoding.ids, encoding.type_ids});
  }
  Knobs knobs;
  knobs.speedup = 2.0;
  const Planner planner(knobs, engine.shape(), std::nullopt, LatencyModel{}, nullptr);
  for (const Planner* plan : {static_cast<const Planner*>(nullptr), &planner}) {
    ForwardOptions forward_options;
    forward_options.planner = plan;
    const BertOutput expected = engine.forward(batch, forward_options);
    torch::NoGradGuard no_grad;
    const train::ClassifierOutput actual = reloaded(train::make_token_batch(batch, 0), plan);
    EXPECT_EQ(actual.kept, expected.kept);
    const torch::Tensor logits = actual.logits.contiguous();
    for (int64_t i = 0; i < logits.numel(); ++i)
      EXPECT_NEAR(logits.data_ptr<float>()[i], expected.logits.data()[i], 1e-4);
  }

  // The same --out without --resume is refused; with it, the run continues at step 120.
  options.steps = 124;
  EXPECT_THROW(train::train_classifier(options, log), InputError);
  options.resume = true;
  const train::TrainResult resumed = train::train_classifier(options, log);
  EXPECT_EQ(resumed.first_step, 120);
  EXPECT_EQ(resumed.losses.size(), 4u);
}

// The sentiment examples as a CSV with integer labels, as Hugging Face datasets store them:
// 0 = negative, 2 = positive in cls3's id2label.
std::string sentiment_csv(int count, uint64_t seed) {
  std::string csv = "sentence,label\n";
  std::istringstream lines(sentiment_jsonl(count, seed));
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json example = nlohmann::json::parse(line);
    csv.append("\"").append(example["text"].get<std::string>()).append("\",");
    csv.append(example["label"] == "pos" ? "2\n" : "0\n");
  }
  return csv;
}

TEST(TrainClassifier, CsvWithIntegerLabelsIsReadThroughTheInitsId2label) {
  TempDir dir("train_classify_csv");
  train::ClassifierOptions options = sentiment_options(dir);
  options.train = dir.path() / "train.csv";
  options.dev = dir.path() / "dev.csv";
  write_file(options.train, sentiment_csv(64, 1));
  write_file(options.dev, sentiment_csv(16, 2));
  options.steps = 2;
  options.eval_every = 2;
  std::ostringstream log;
  train::train_classifier(options, log);
  EXPECT_NE(
      log.str().find("latte: notice: integer labels mapped through config.json's id2label (0 -> negative, "
                     "1 -> neutral, 2 -> positive)\n"),
      std::string::npos)
      << log.str();
  EXPECT_EQ(BertModel::load(options.out).config().id2label,
            (std::vector<std::string>{"negative", "positive"}));

  // An integer that is no class of the model names its example.
  write_file(options.dev, "sentence,label\ngood,0\nbad,7\n");
  options.out = dir.path() / "out2";
  EXPECT_EQ(test_support::error_of([&] { train::train_classifier(options, log); }),
            options.dev.string() +
                ":3: integer label 7 is not a class of the model (config.json's id2label has 0 to 2)");
}

TEST(TrainClassifier, WarnsWhenEveryDevPredictionIsOneClass) {
  // One text for every example: the model can learn only the labels' prior, and identical dev
  // inputs get identical predictions, so every dev prediction is one class whatever it learns.
  TempDir dir("train_one_class");
  train::ClassifierOptions options = sentiment_options(dir);
  std::string train, dev;
  for (int i = 0; i < 16; ++i) {
    train += std::string(R"({"text": "the movie", "label": ")") + (i % 4 == 0 ? "neg" : "pos") + "\"}\n";
  }
  for (int i = 0; i < 8; ++i) {
    dev += std::string(R"({"text": "the movie", "label": ")") + (i % 4 == 0 ? "neg" : "pos") + "\"}\n";
  }
  write_file(options.train, train);
  write_file(options.dev, dev);
  options.steps = 2;
  options.eval_every = 2;
  options.batch_size = 8;
  options.train_speedup_range.reset();
  std::ostringstream log;
  const train::TrainResult result = train::train_classifier(options, log);
  ASSERT_TRUE(result.best);
  ASSERT_EQ(result.best->warnings.size(), 1u) << log.str();
  EXPECT_NE(result.best->warnings[0].find("dev S=1: every prediction is '"), std::string::npos)
      << result.best->warnings[0];
  EXPECT_NE(log.str().find("latte: warning: dev S=1: every prediction is '"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("latte: warning: the best checkpoint's dev S=1: every prediction is '"),
            std::string::npos)
      << log.str();
}

TEST(TrainClassifier, BadTrainingFileNamesFileAndLine) {
  TempDir dir("train_classify_bad");
  train::ClassifierOptions options = sentiment_options(dir);
  write_file(options.train, sentiment_jsonl(3, 1) + "{\"text\": \"x\", \"label\": [1]}\n");
  std::ostringstream log;
  try {
    train::train_classifier(options, log);
    FAIL() << "expected an InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find(options.train.string() + ":4:"), std::string::npos)
        << error.what();
  }
}

// Through the command line: a bad training file is one line on stderr naming
// FILE:LINE and exit status 1, before anything else is printed.
TEST(TrainClassifier, ANonEmptyOutWithoutARunIsRefused) {
  // The best checkpoint is a model folder: another model's files beside it would be read with it.
  TempDir dir("train_out_occupied");
  train::ClassifierOptions options = sentiment_options(dir);
  std::filesystem::create_directories(options.out);
  write_file(options.out / "tokenizer.json", "{}");
  std::ostringstream log;
  try {
    train::train_classifier(options, log);
    FAIL() << "expected an InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find(options.out.string() + " is not empty"), std::string::npos)
        << error.what();
  }
  EXPECT_EQ(log.str(), "");
}

TEST(TrainCheckpoint, MaskedLMConfigIsReadWithoutAPredictableTemporaryFile) {
  // It used to validate a copy written to $TMPDIR/latte-config-PID.json (via PID.json.tmp): a
  // symlink planted there by another user was followed.
  TempDir dir("train_config_tmp");
  const std::filesystem::path model = dir / "model";
  std::filesystem::create_directories(model);
  nlohmann::json config =
      nlohmann::json::parse(test_support::slurp(kData / "bert" / "cls3_f32" / "config.json"));
  config["architectures"] = {"BertForMaskedLM"};
  write_file(model / "config.json", config.dump());
  write_file(dir / "victim", "precious");
  const std::string name = "latte-config-" + std::to_string(::getpid()) + ".json";
  std::filesystem::create_symlink(dir / "victim", dir / name);
  std::filesystem::create_symlink(dir / "victim", dir / (name + ".tmp"));
  const char* previous = std::getenv("TMPDIR");
  const std::string saved = previous ? previous : "";
  ::setenv("TMPDIR", dir.path().c_str(), 1);
  const BertConfig read = train::read_bert_config(model);
  if (previous) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  EXPECT_EQ(read.architecture, "BertForMaskedLM");
  EXPECT_EQ(test_support::slurp(dir / "victim"), "precious");
}

TEST(TrainCli, BadTrainingFileIsOneLineError) {
  TempDir dir("train_cli");
  const std::filesystem::path train = dir.path() / "train.jsonl";
  write_file(train, sentiment_jsonl(2, 1) + "{\"text\": \"no label\"}\n");
  write_file(dir.path() / "dev.jsonl", sentiment_jsonl(2, 2));
  const std::filesystem::path err = dir.path() / "stderr.txt";
  const std::string command = std::string(LATTE_CLI_PATH) + " train classify --init " +
                              (kData / "bert" / "cls3_f32").string() + " --train " + train.string() +
                              " --dev " + (dir.path() / "dev.jsonl").string() + " --out " +
                              (dir.path() / "out").string() + " 2>" + err.string();
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  std::ifstream file(err);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "latte: error: --label-field is needed: " + train.string() +
                      ":3 has no label (training needs one for every example)\n");
}

// Masked-LM pretraining of the tiny preset on the real vocabulary: the loss
// falls, and the checkpoint (BertForMaskedLM) seeds a classifier's encoder.
TEST(TrainMaskedLM, LearnsAndSeedsFineTuning) {
  TempDir dir("train_mlm");
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "the cat sat on the mat and the dog sat on the log.\n";
    text += "a bird in the hand is worth two in the bush.\n";
  }
  write_file(dir.path() / "train.txt", text);
  write_file(dir.path() / "dev.txt", "the dog sat on the mat.\na cat in the hand.\n");
  train::MaskedLMOptions options;
  options.data = dir.path() / "train.txt";
  options.dev = dir.path() / "dev.txt";
  options.vocab = kData / "tokenizer" / "bert-base-uncased-vocab.txt";
  options.out = dir.path() / "out";
  options.preset = "tiny";
  options.seq_len = 32;
  options.steps = 30;
  options.batch_size = 8;
  options.learning_rate = 2e-3;
  options.eval_every = 30;  // one save: checkpoints of the 30k-word vocabulary are tens of MB
  options.threads = 1;
  options.interactive = false;
  options.save_dtype = DType::F16;
  std::ostringstream log;
  const train::TrainResult result = train::train_masked_lm(options, log);
  ASSERT_EQ(result.losses.size(), 30u);
  EXPECT_LT(mean(result.losses, 25, 5), 0.75 * mean(result.losses, 0, 5)) << log.str();

  const BertConfig config = train::read_bert_config(options.out);
  EXPECT_EQ(config.architecture, "BertForMaskedLM");
  EXPECT_THROW(BertModel::load(options.out), FormatError);  // the engine runs encoders and classifiers only

  BertConfig classifier_config = config;
  classifier_config.num_labels = 2;
  classifier_config.id2label = {"a", "b"};
  train::BertClassifier classifier(classifier_config);
  const std::vector<std::string> fresh =
      train::load_hf_weights(options.out, classifier->hf_weights(), [](const std::string& name) {
        return name.rfind("bert.pooler.", 0) == 0 || name.rfind("classifier.", 0) == 0;
      });
  EXPECT_EQ(fresh, (std::vector<std::string>{"bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                             "classifier.weight", "classifier.bias"}));
  train::BertMaskedLM masked_lm(config);
  train::load_hf_weights(options.out, masked_lm->hf_weights(), nullptr);
  EXPECT_TRUE(
      torch::equal(classifier->bert->embeddings->word->weight, masked_lm->bert->embeddings->word->weight));
  EXPECT_THROW(train::load_hf_weights(options.out, classifier->hf_weights(), nullptr), FormatError);
}

}  // namespace
}  // namespace latte
