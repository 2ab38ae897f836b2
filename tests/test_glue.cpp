// GLUE TSV layouts of the nine tasks (labelled and test files) and the JSONL reader,
// on fixture files; malformed rows fail with FILE:LINE.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "latte/core/error.h"
#include "latte/data/glue.h"
#include "latte/data/records.h"

namespace {

namespace fs = std::filesystem;
using namespace latte::data;

const fs::path kGlue = fs::path(LATTE_TEST_DATA_DIR) / "fixtures" / "glue";

std::string error_of(const fs::path& path, GlueTask task) {
  try {
    read_glue_tsv(path, task);
  } catch (const latte::Error& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(Glue, TaskNames) {
  EXPECT_EQ(parse_glue_task("SST-2"), GlueTask::kSst2);
  EXPECT_EQ(parse_glue_task("stsb"), GlueTask::kStsb);
  EXPECT_EQ(parse_glue_task("mnli-mm"), GlueTask::kMnli);
  EXPECT_TRUE(glue_task_is_regression(GlueTask::kStsb));
  EXPECT_FALSE(glue_task_is_regression(GlueTask::kQqp));
  EXPECT_STREQ(glue_task_name(GlueTask::kWnli), "wnli");
  EXPECT_THROW(parse_glue_task("squad"), latte::InputError);
}

TEST(Glue, ColaWithoutHeaderAndItsTestFile) {
  const auto train = read_glue_tsv(kGlue / "cola_train.tsv", GlueTask::kCola);
  ASSERT_EQ(train.size(), 3u);
  EXPECT_EQ(train[1].text, "They drank the pub.");
  EXPECT_EQ(train[1].label, "0");
  EXPECT_FALSE(train[1].text_pair);
  EXPECT_EQ(train[0].origin, (kGlue / "cola_train.tsv").string() + ":1");

  const auto test = read_glue_tsv(kGlue / "cola_test.tsv", GlueTask::kCola);
  ASSERT_EQ(test.size(), 2u);
  EXPECT_EQ(test[0].text, "Bill whistled past the house.");
  EXPECT_FALSE(test[0].label);
}

TEST(Glue, Sst2) {
  const auto dev = read_glue_tsv(kGlue / "sst2_dev.tsv", GlueTask::kSst2);
  ASSERT_EQ(dev.size(), 2u);
  EXPECT_EQ(dev[1].text, "that loves its characters ");
  EXPECT_EQ(dev[1].label, "1");
  EXPECT_EQ(dev[1].origin, (kGlue / "sst2_dev.tsv").string() + ":3");
}

TEST(Glue, MrpcWithByteOrderMarkAndTestFile) {
  const auto dev = read_glue_tsv(kGlue / "mrpc_dev.tsv", GlueTask::kMrpc);
  ASSERT_EQ(dev.size(), 2u);
  EXPECT_EQ(dev[0].text, "Amrozi accused his brother of deliberately distorting his evidence .");
  EXPECT_EQ(dev[0].text_pair->substr(0, 12), "Referring to");
  EXPECT_EQ(dev[0].label, "1");
  EXPECT_EQ(dev[1].label, "0");
  const auto test = read_glue_tsv(kGlue / "mrpc_test.tsv", GlueTask::kMrpc);
  ASSERT_EQ(test.size(), 1u);
  EXPECT_EQ(test[0].text_pair, "The chief executive of PCCW resigned .");
  EXPECT_FALSE(test[0].label);
}

TEST(Glue, StsbIsRegression) {
  const auto dev = read_glue_tsv(kGlue / "stsb_dev.tsv", GlueTask::kStsb);
  ASSERT_EQ(dev.size(), 2u);
  EXPECT_EQ(dev[1].text, "A man is playing a large flute.");
  EXPECT_EQ(dev[1].text_pair, "A man is playing a flute.");
  EXPECT_DOUBLE_EQ(dev[1].score.value(), 3.8);
  EXPECT_FALSE(dev[1].label);
}

TEST(Glue, QqpMnliQnliRteWnli) {
  const auto qqp = read_glue_tsv(kGlue / "qqp_dev.tsv", GlueTask::kQqp);
  ASSERT_EQ(qqp.size(), 2u);
  EXPECT_EQ(qqp[1].text, "How do I control my horny emotions?");
  EXPECT_EQ(qqp[1].label, "1");

  const auto mnli = read_glue_tsv(kGlue / "mnli_dev_matched.tsv", GlueTask::kMnli);
  ASSERT_EQ(mnli.size(), 2u);
  EXPECT_EQ(mnli[0].text, "The new rights are nice enough");
  EXPECT_EQ(mnli[0].text_pair, "Everyone really likes the newest benefits ");
  EXPECT_EQ(mnli[0].label, "neutral");
  EXPECT_EQ(mnli[1].label, "contradiction");
  const auto mnli_test = read_glue_tsv(kGlue / "mnli_test_matched.tsv", GlueTask::kMnli);
  ASSERT_EQ(mnli_test.size(), 1u);
  EXPECT_EQ(mnli_test[0].text_pair, "The deficit should be cut.");
  EXPECT_FALSE(mnli_test[0].label);

  const auto qnli = read_glue_tsv(kGlue / "qnli_dev.tsv", GlueTask::kQnli);
  ASSERT_EQ(qnli.size(), 2u);
  EXPECT_EQ(qnli[0].text, "What came into force after the new constitution was herald?");
  EXPECT_EQ(qnli[1].label, "not_entailment");

  const auto rte = read_glue_tsv(kGlue / "rte_dev.tsv", GlueTask::kRte);
  ASSERT_EQ(rte.size(), 2u);
  EXPECT_EQ(rte[1].text_pair, "Bacteria is winning the war against antibiotics.");
  EXPECT_EQ(rte[1].label, "entailment");

  const auto wnli = read_glue_tsv(kGlue / "wnli_dev.tsv", GlueTask::kWnli);
  ASSERT_EQ(wnli.size(), 2u);
  EXPECT_EQ(wnli[1].text_pair, "Susan did not answer.");
  EXPECT_EQ(wnli[1].label, "1");
}

TEST(Glue, MalformedRowsNameFileAndLine) {
  EXPECT_EQ(error_of(kGlue / "bad_qqp_short_row.tsv", GlueTask::kQqp),
            (kGlue / "bad_qqp_short_row.tsv").string() + ":3: expected 6 tab-separated columns, found 4");
  EXPECT_EQ(error_of(kGlue / "bad_stsb_score.tsv", GlueTask::kStsb),
            (kGlue / "bad_stsb_score.tsv").string() + ":2: score 'five' is not a number");
  EXPECT_EQ(error_of(kGlue / "bad_rte_empty_label.tsv", GlueTask::kRte),
            (kGlue / "bad_rte_empty_label.tsv").string() + ":2: empty label in column 3");
  // A file of another task: its header lacks the texts this task needs.
  EXPECT_NE(error_of(kGlue / "sst2_dev.tsv", GlueTask::kMnli)
                .find("sst2_dev.tsv:1: the header has no column \"sentence1\""),
            std::string::npos);
  // CoLA rows must have its four columns.
  EXPECT_NE(error_of(kGlue / "sst2_dev.tsv", GlueTask::kCola)
                .find("sst2_dev.tsv:1: expected 4 tab-separated columns"),
            std::string::npos);
  EXPECT_NE(error_of(kGlue / "missing.tsv", GlueTask::kRte).find("cannot open data file"), std::string::npos);
}

class DataJsonl : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() / ("latte_jsonl_" + std::to_string(getpid()) + ".jsonl");
  }
  void TearDown() override { fs::remove(path_); }
  void write(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }
  fs::path path_;
};

TEST_F(DataJsonl, StringNumberAndMissingLabels) {
  write(
      "{\"text\": \"a\", \"label\": \"spam\"}\n\n"
      "{\"text\": \"b\", \"text_pair\": \"c\", \"label\": 1}\n"
      "{\"text\": \"d\", \"label\": 3.8, \"extra\": [1]}\n"
      "{\"text\": \"e\", \"label\": \"4.5\"}\n"
      "{\"text\": \"f\", \"label\": null, \"text_pair\": null}\n");
  const auto examples = read_records(path_);
  ASSERT_EQ(examples.size(), 5u);
  EXPECT_EQ(examples[0].label, "spam");
  EXPECT_FALSE(examples[0].score);
  EXPECT_EQ(examples[1].text_pair, "c");
  EXPECT_EQ(examples[1].label, "1");
  EXPECT_EQ(examples[1].score, 1.0);
  EXPECT_EQ(examples[1].origin, path_.string() + ":3");
  EXPECT_EQ(examples[2].label, "3.8");
  EXPECT_DOUBLE_EQ(examples[2].score.value(), 3.8);
  EXPECT_DOUBLE_EQ(examples[3].score.value(), 4.5);
  EXPECT_FALSE(examples[4].label);
  EXPECT_FALSE(examples[4].text_pair);
}

TEST_F(DataJsonl, ErrorsNameFileAndLine) {
  const auto error_for = [&](const std::string& text) -> std::string {
    write(text);
    try {
      read_records(path_);
    } catch (const latte::InputError& error) {
      return error.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_for("{\"text\": \"ok\"}\n{\"text\": 5}\n"),
            path_.string() + ":2: field \"text\" is not a string");
  EXPECT_EQ(error_for("{\"review\": \"ok\", \"label\": 1}\n"),
            "text field is needed: " + path_.string() +
                ":1 has no key \"text\", \"sentence\" or \"sentence1\" (its keys: \"label\", \"review\")");
  EXPECT_EQ(error_for("{\"text\": \"ok\", \"label\": [1]}\n"),
            path_.string() + ":1: field \"label\" must be a string or a number");
  EXPECT_EQ(error_for("{\"text\": \"ok\"}\n\n{not json\n").rfind(path_.string() + ":3: not valid JSON", 0),
            0u);
  EXPECT_EQ(error_for("[1, 2]\n"), path_.string() + ":1: expected a JSON object with a \"text\" field");
  // Found by fuzz_jsonl: a number beyond double's range escaped as an uncaught out_of_range.
  EXPECT_EQ(
      error_for("{\"text\": \"ok\", \"label\": 1e400}\n").rfind(path_.string() + ":1: not valid JSON", 0),
      0u);
}

TEST(DataNumbers, ParseNumber) {
  EXPECT_EQ(parse_number("3.8"), 3.8);
  EXPECT_EQ(parse_number(" 4 "), 4.0);
  EXPECT_FALSE(parse_number("five"));
  EXPECT_FALSE(parse_number("1.5x"));
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("nan"));
}

}  // namespace
