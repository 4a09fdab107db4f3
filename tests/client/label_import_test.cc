#include "client/label_import.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "client/sample_store.h"
#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

namespace fs = std::filesystem;

using fedge::testing::TempDir;

class LabelImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SampleStore::Open(dir_.path() + "/store", StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    for (int i = 1; i <= 4; ++i) {
      FrameRecord f;
      f.id = "cam#" + std::to_string(i);
      f.captured_unix_ms = i;
      f.format = "jpeg";
      f.bytes.assign(f.id.begin(), f.id.end());
      f.width = f.height = f.channels = 1;
      ASSERT_TRUE(store_->AddFrame(f).ok());
    }
  }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // The labels currently stored, as "id=label" in training order.
  std::vector<std::string> Labels() {
    std::vector<std::string> out;
    auto frames = store_->LabelledFrames();
    EXPECT_TRUE(frames.ok());
    for (const auto& f : *frames) out.push_back(f.id + "=" + std::to_string(f.label));
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SampleStore> store_;
};

TEST_F(LabelImportTest, ImportsCsvWithExtraColumns) {
  const std::string path = Write("labels.csv",
                                 "\xEF\xBB\xBF"
                                 "label,frame_id,annotator\r\n"
                                 "3,cam#1,ann\r\n"
                                 "\r\n"
                                 " 0 ,\"cam#2\",\"Smith, J.\"\r\n"
                                 "3,cam#4,bob\r\n");
  auto summary = ImportLabels(*store_, path);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->lines_read, 3u);
  EXPECT_EQ(summary->labels_set, 3u);
  EXPECT_EQ(summary->quarantined, 0u);
  ASSERT_EQ(summary->class_counts.size(), 10u);
  EXPECT_EQ(summary->class_counts[3], 2u);
  EXPECT_EQ(summary->class_counts[0], 1u);
  EXPECT_EQ(Labels(), (std::vector<std::string>{"cam#1=3", "cam#2=0", "cam#4=3"}));
  EXPECT_EQ(store_->ClassCounts()[3], 2u);
}

TEST_F(LabelImportTest, ImportsJsonLinesDetectedByExtensionOrContent) {
  const std::string jsonl =
      "{\"frame_id\": \"cam#2\", \"label\": 5}\n"
      "\n"
      "{\"label\": 1, \"frame_id\": \"cam#3\", \"by\": \"x\"}\n";
  auto summary = ImportLabels(*store_, Write("labels.jsonl", jsonl));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->lines_read, 2u);
  EXPECT_EQ(Labels(), (std::vector<std::string>{"cam#2=5", "cam#3=1"}));
  // Same content without a telling extension; also overwrites cam#2's label.
  summary = ImportLabels(*store_, Write("labels.txt", "{\"frame_id\": \"cam#2\", \"label\": 7}"));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(Labels(), (std::vector<std::string>{"cam#2=7", "cam#3=1"}));
  EXPECT_EQ(store_->ClassCounts()[5], 0u);
  EXPECT_EQ(store_->ClassCounts()[7], 1u);
}

TEST_F(LabelImportTest, UnknownFrameIdFailsAndImportsNothing) {
  const std::string path = Write("labels.csv", "frame_id,label\ncam#1,1\ncam#2,2\nghost#9,3\n");
  auto summary = ImportLabels(*store_, path);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), shared::Code::kInvalidArgument);
  const std::string& m = summary.status().message();
  EXPECT_NE(m.find(path + ":4:"), std::string::npos) << m;
  EXPECT_NE(m.find("ghost#9"), std::string::npos) << m;
  EXPECT_NE(m.find("nothing was imported"), std::string::npos) << m;
  EXPECT_TRUE(Labels().empty());
  EXPECT_EQ(store_->ClassCounts(), std::vector<uint64_t>(10, 0));
  // An id that was quarantined as a duplicate (so never stored) says so.
  FrameRecord copy = *store_->GetFrame("cam#1").value();
  copy.id = "cam#1-copy";
  ASSERT_EQ(store_->AddFrame(copy)->kind, AddOutcome::Kind::kDuplicate);
  summary = ImportLabels(*store_, Write("dup.csv", "frame_id,label\ncam#1-copy,1\n"));
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("quarantined: exact duplicate of cam#1"),
            std::string::npos)
      << summary.status().message();
}

TEST_F(LabelImportTest, BadLineFailsNamingTheLineAndImportsNothing) {
  ASSERT_TRUE(ImportLabels(*store_, Write("first.csv", "frame_id,label\ncam#1,4\n")).ok());
  struct Case {
    std::string name, content, line, words;
  };
  const std::vector<Case> cases = {
      {"cols.csv", "frame_id,label\ncam#2,1\ncam#3\n", ":3:", "columns"},
      {"int.csv", "frame_id,label\ncam#2,1\ncam#3,cat\n", ":3:", "not an integer"},
      {"float.csv", "frame_id,label\ncam#2,1.5\n", ":2:", "not an integer"},
      {"header.csv", "id,class\ncam#2,1\n", ":1:", "frame_id and label"},
      {"quote.csv", "frame_id,label\n\"cam#2,1\n", ":2:", "quote"},
      {"bad.jsonl", "{\"frame_id\": \"cam#2\", \"label\": 1}\n{\"frame_id\": \"cam#3\",\n",
       ":2:", "not a JSON object"},
      {"field.jsonl", "{\"frame_id\": \"cam#2\"}\n", ":1:", "missing field \"label\""},
      {"id.jsonl", "{\"id\": \"cam#2\", \"label\": 1}\n", ":1:", "frame_id"},
      {"type.jsonl", "{\"frame_id\": \"cam#2\", \"label\": \"2\"}\n", ":1:", "not an integer"},
  };
  for (const Case& c : cases) {
    const std::string path = Write(c.name, c.content);
    auto summary = ImportLabels(*store_, path);
    ASSERT_FALSE(summary.ok()) << c.name;
    EXPECT_EQ(summary.status().code(), shared::Code::kInvalidArgument) << c.name;
    const std::string& m = summary.status().message();
    EXPECT_NE(m.find(path + c.line), std::string::npos) << c.name << ": " << m;
    EXPECT_NE(m.find(c.words), std::string::npos) << c.name << ": " << m;
    EXPECT_EQ(Labels(), std::vector<std::string>{"cam#1=4"}) << c.name;
  }
  EXPECT_EQ(ImportLabels(*store_, dir_.path() + "/missing.csv").status().code(),
            shared::Code::kNotFound);
}

TEST_F(LabelImportTest, OutOfRangeLabelQuarantinesFrameInSameImport) {
  const std::string path =
      Write("labels.csv", "frame_id,label\ncam#1,12\ncam#2,2\ncam#3,-1\ncam#4,9\n");
  auto summary = ImportLabels(*store_, path);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->lines_read, 4u);
  EXPECT_EQ(summary->labels_set, 2u);
  EXPECT_EQ(summary->quarantined, 2u);
  EXPECT_EQ(Labels(), (std::vector<std::string>{"cam#2=2", "cam#4=9"}));
  auto q = store_->Quarantined();
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 2u);
  EXPECT_EQ((*q)[0].id, "cam#1");
  EXPECT_EQ((*q)[0].reason, "label 12 out of range [0, 10)");
  EXPECT_TRUE((*q)[0].stored);
  EXPECT_EQ((*q)[1].reason, "label -1 out of range [0, 10)");
  // A quarantined frame is not offered for review.
  auto queue = store_->ReviewQueue(10);
  ASSERT_TRUE(queue.ok());
  EXPECT_TRUE(queue->empty());  // all four frames are labelled or quarantined
  // Fixing the label releases the frame.
  ASSERT_TRUE(ImportLabels(*store_, Write("fix.csv", "frame_id,label\ncam#1,6\n")).ok());
  EXPECT_EQ(Labels(), (std::vector<std::string>{"cam#1=6", "cam#2=2", "cam#4=9"}));
  EXPECT_EQ(store_->Quarantined()->size(), 1u);
}

}  // namespace
}  // namespace fedge::client
