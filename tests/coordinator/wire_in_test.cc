// The coordinator's trust boundary: what a client sends, read into checked values.
#include "coordinator/wire_in.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace fedge::coordinator::wire_in {
namespace {

using shared::Code;
using shared::Status;

// The root table of a finished builder.
template <typename T>
const T* Root(const flatbuffers::FlatBufferBuilder& fbb) {
  return flatbuffers::GetRoot<T>(fbb.GetBufferPointer());
}

struct SubmitSpec {
  std::string id = "site-a/1";
  uint64_t examples = 100;
  std::vector<std::pair<std::string, double>> metrics = {{"loss", 0.5}};
};

flatbuffers::FlatBufferBuilder Submit(const SubmitSpec& spec) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<wire::KeyValue>> kvs;
  for (const auto& [k, v] : spec.metrics)
    kvs.push_back(wire::CreateKeyValueDirect(fbb, k.c_str(), v));
  auto metrics = fbb.CreateVector(kvs);
  auto id = fbb.CreateString(spec.id);
  std::vector<uint8_t> digest(32, 7);
  auto d = fbb.CreateVector(digest);
  fbb.Finish(
      wire::CreateUpdateSubmit(fbb, 11, 3, id, spec.examples, metrics, wire::Codec::Fp32, d, 1000));
  return fbb;
}

Status ReadSubmit(const SubmitSpec& spec) {
  auto fbb = Submit(spec);
  return ReadUpdateSubmit(*Root<wire::UpdateSubmit>(fbb)).status();
}

TEST(WireInTest, AWellFormedUpdateReadsAsSent) {
  auto fbb = Submit({});
  auto u = ReadUpdateSubmit(*Root<wire::UpdateSubmit>(fbb));
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->task_id, 11u);
  EXPECT_EQ(u->round, 3u);
  EXPECT_EQ(u->idempotency_id, "site-a/1");
  EXPECT_EQ(u->examples, 100u);
  ASSERT_EQ(u->metrics.size(), 1u);
  EXPECT_EQ(u->metrics[0].first, "loss");
}

// Issue 16 item 1: one invalid byte in an id used to throw inside the JSON writer on an ingest
// thread and abort the coordinator.
TEST(WireInTest, AnIdThatIsNotUtf8IsRefusedWithItsFieldName) {
  Status s = ReadSubmit({.id = "\xff"});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("UpdateSubmit.idempotency_id is not valid UTF-8"), std::string::npos)
      << s.message();
  EXPECT_FALSE(ReadSubmit({.id = std::string(kMaxIdBytes + 1, 'i')}).ok());
  EXPECT_FALSE(ReadSubmit({.id = ""}).ok());
}

// Issue 16 items 4 and 9: claims a later sum could overflow are refused at the door.
TEST(WireInTest, ExampleCountsAndLossesAreBounded) {
  EXPECT_FALSE(ReadSubmit({.examples = 0}).ok());
  EXPECT_TRUE(ReadSubmit({.examples = kMaxExamples}).ok());
  Status s = ReadSubmit({.examples = uint64_t{1} << 32});
  EXPECT_NE(s.message().find("above the limit"), std::string::npos) << s.message();
  EXPECT_FALSE(ReadSubmit({.metrics = {{"loss", 1e300}}}).ok());
  EXPECT_FALSE(ReadSubmit({.metrics = {{"loss", -1}}}).ok());
  EXPECT_FALSE(ReadSubmit({.metrics = {{"loss", std::nan("")}}}).ok());
}

// Issue 16 item 2: the verifier counts entries, not the bytes they point to.
TEST(WireInTest, ManyMetricsAreRefusedBeforeAnyIsCopied) {
  flatbuffers::FlatBufferBuilder fbb;
  auto key = fbb.CreateString(std::string(1 << 20, 'k'));  // one 1 MiB key ...
  std::vector<flatbuffers::Offset<wire::KeyValue>> kvs;
  for (int i = 0; i < 5000; ++i) kvs.push_back(wire::CreateKeyValue(fbb, key, 1.0));  // ... 5000x
  auto metrics = fbb.CreateVector(kvs);
  auto id = fbb.CreateString("site-a/1");
  std::vector<uint8_t> digest(32, 7);
  auto d = fbb.CreateVector(digest);
  fbb.Finish(wire::CreateUpdateSubmit(fbb, 1, 1, id, 10, metrics, wire::Codec::Fp32, d, 10));
  Status s = ReadUpdateSubmit(*Root<wire::UpdateSubmit>(fbb)).status();
  EXPECT_NE(s.message().find("5000 entries; at most 64"), std::string::npos) << s.message();

  SubmitSpec long_key;
  long_key.metrics = {{std::string(kMaxNameBytes + 1, 'k'), 1}};
  EXPECT_FALSE(ReadSubmit(long_key).ok());
}

flatbuffers::FlatBufferBuilder Eval(uint32_t classes, std::vector<uint64_t> confusion,
                                    uint64_t examples, double loss = 0.5) {
  flatbuffers::FlatBufferBuilder fbb;
  auto c = fbb.CreateVector(confusion);
  fbb.Finish(wire::CreateEvalReport(fbb, 5, 3, 2, examples, loss, 0, c, classes));
  return fbb;
}

TEST(WireInTest, EvaluationReportsMustBeConsistent) {
  {
    auto fbb = Eval(2, {3, 1, 0, 4}, 8);
    auto e = ReadEvalReport(*Root<wire::EvalReport>(fbb));
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e->num_classes, 2u);
    EXPECT_EQ(e->confusion, (std::vector<uint64_t>{3, 1, 0, 4}));
  }
  auto refused = [](flatbuffers::FlatBufferBuilder fbb, const std::string& words) {
    Status s = ReadEvalReport(*Root<wire::EvalReport>(fbb)).status();
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_NE(s.message().find(words), std::string::npos) << s.message();
  };
  refused(Eval(2, {3, 1, 0, 4}, 9), "sums to 8 but example_count is 9");
  refused(Eval(2, {3, 1, 0}, 4), "3 cells; 2 classes need 4");
  refused(Eval(0, {}, 0), "num_classes is 0");
  refused(Eval(2, {3, 1, 0, 4}, 8, std::numeric_limits<double>::infinity()), "EvalReport.loss");
  // Cells that would wrap a 64-bit sum back to the example count.
  const uint64_t big = uint64_t{1} << 63;
  refused(Eval(2, {big, big, 0, 8}, 8), "confusion cell");
}

TEST(WireInTest, InstallReportTextIsMadeSafeAndNamesAreChecked) {
  flatbuffers::FlatBufferBuilder fbb;
  auto target = fbb.CreateString("fedge-model");
  auto error = fbb.CreateString("bad \x1b[31mred\xff\n" + std::string(5000, 'x'));
  wire::InstallReportBuilder b(fbb);
  b.add_target(target);
  b.add_error(error);
  b.add_accuracy(0.9);
  fbb.Finish(b.Finish());
  auto r = ReadInstallReport(*Root<wire::InstallReport>(fbb));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_LE(r->error.size(), kMaxFreeTextBytes);
  EXPECT_EQ(r->error.substr(0, 13), "bad ?[31mred\xEF");  // escape and bad byte replaced
  EXPECT_EQ(r->error.find('\n'), std::string::npos);

  flatbuffers::FlatBufferBuilder bad;
  auto bad_target = bad.CreateString("\xc3");
  wire::InstallReportBuilder bb(bad);
  bb.add_target(bad_target);
  bad.Finish(bb.Finish());
  EXPECT_FALSE(ReadInstallReport(*Root<wire::InstallReport>(bad)).ok());
}

TEST(WireInTest, HelloCountsAndReleaseNameAreChecked) {
  flatbuffers::FlatBufferBuilder fbb;
  auto target = fbb.CreateString("fedge-\xff");
  fbb.Finish(wire::CreateHello(fbb, 1, 1, 0, 100, 10, 0, target, 3));
  Status s = ReadHello(*Root<wire::Hello>(fbb)).status();
  EXPECT_NE(s.message().find("Hello.release_target is not valid UTF-8"), std::string::npos)
      << s.message();

  flatbuffers::FlatBufferBuilder big;
  big.Finish(wire::CreateHello(big, 1, 1, 0, uint64_t{1} << 40, 10));
  EXPECT_FALSE(ReadHello(*Root<wire::Hello>(big)).ok());

  flatbuffers::FlatBufferBuilder ok;
  ok.Finish(wire::CreateHello(ok, 1, 1, 0, 100, 10));
  auto h = ReadHello(*Root<wire::Hello>(ok));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->info.train_examples, 100u);
  EXPECT_EQ(h->release_target, "");
}

// Found by coordinator_messages_fuzz: the verifier checks alignment relative to the buffer, so a
// message placed 4 bytes off an 8-byte boundary verifies, and reading its [ulong] counts in
// place is undefined behaviour. They are refused instead.
TEST(WireInTest, CountsThatAreNotAlignedAreRefused) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<uint64_t> counts = {1, 2, 3};
  auto c = fbb.CreateVector(counts);
  fbb.Finish(wire::CreateHello(fbb, 1, 1, 0, 100, 10, c));
  std::vector<uint8_t> shifted(fbb.GetSize() + 8);
  std::memcpy(shifted.data() + 4, fbb.GetBufferPointer(), fbb.GetSize());  // data() is 16-aligned
  const wire::Hello* hello = flatbuffers::GetRoot<wire::Hello>(shifted.data() + 4);
  Status s = ReadHello(*hello).status();
  EXPECT_NE(s.message().find("Hello.class_counts is not aligned"), std::string::npos)
      << s.message();
  auto aligned = ReadHello(*Root<wire::Hello>(fbb));
  ASSERT_TRUE(aligned.ok()) << aligned.status().ToString();
  EXPECT_EQ(aligned->info.class_counts, counts);
}

}  // namespace
}  // namespace fedge::coordinator::wire_in
