// GLUE benchmark files (users bring their own copy: train.tsv, dev.tsv, test.tsv of each
// task, as the GLUE download script writes them). Tab-separated, no quoting.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "latte/data/examples.h"

namespace latte::data {

enum class GlueTask { kCola, kSst2, kMrpc, kStsb, kQqp, kMnli, kQnli, kRte, kWnli };

// "cola", "sst-2" / "sst2", "mrpc", "sts-b" / "stsb", "qqp", "mnli" (also "mnli-m",
// "mnli-mm", "ax"), "qnli", "rte", "wnli"; any case. InputError lists the choices.
GlueTask parse_glue_task(std::string_view name);
const char* glue_task_name(GlueTask task);
bool glue_task_is_regression(GlueTask task);  // STS-B

// Reads one GLUE TSV. Columns (0-based) of the labelled train/dev files:
//   CoLA   no header; sentence 3, label 1 (4 columns)
//   SST-2  header; sentence 0, label 1
//   MRPC   header; #1 String 3, #2 String 4, Quality 0
//   STS-B  header; sentence1 7, sentence2 8, score 9 (regression)
//   QQP    header; question1 3, question2 4, is_duplicate 5
//   MNLI   header; sentence1 8, sentence2 9, gold_label last
//   QNLI   header; question 1, sentence 2, label 3
//   RTE    header; sentence1 1, sentence2 2, label 3 (WNLI the same)
// Files with a header are read by the header's column names, so the test files (which
// lack the label column, and for CoLA gain an "index sentence" header) read too, with no
// label. A UTF-8 byte-order mark is skipped; blank lines are skipped. FormatError names
// FILE:LINE for a row whose column count differs from the header's (CoLA: 4), a header
// without the task's text columns, an empty label or a score that is not a number.
std::vector<LabeledExample> read_glue_tsv(const std::filesystem::path& path, GlueTask task);
// The same examples one at a time, in file order, until on_example returns false: the rest of the
// file is not read.
void for_each_glue_example(const std::filesystem::path& path, GlueTask task,
                           const std::function<bool(LabeledExample&&)>& on_example);

}  // namespace latte::data
