#include "coordinator/registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "shared/codec/bundle_codec.h"

namespace fedge::coordinator {
namespace {

using nlohmann::json;
using shared::Code;
using shared::Status;

std::string TempDir(const std::string& tag) {
  std::string d = std::filesystem::temp_directory_path() /
                  ("fedge-registry-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" + tag);
  std::filesystem::remove_all(d);
  return d;
}

// A real encoded bundle whose bytes depend on `seed`.
std::vector<uint8_t> Blob(float seed) {
  shared::TensorBundle b;
  b.tensors.push_back({"conv.weight", {2, 2}, {seed, seed + 1, seed + 2, seed + 3}});
  b.tensors.push_back({"conv.bias", {2}, {-seed, 0.5f}});
  auto bytes = shared::EncodeBundle(b);
  EXPECT_TRUE(bytes.ok());
  return *bytes;
}

ModelRecord Record(uint64_t version, std::optional<uint64_t> parent,
                   const std::vector<uint8_t>& blob, json metrics = json::object()) {
  ModelRecord r;
  r.version = version;
  r.parent = parent;
  r.round = version - 1;
  r.arch = "cnn_small";
  r.digest_hex = shared::ToHex(shared::Sha256(blob));
  r.size_bytes = blob.size();
  r.created_ms = 1000 + version;
  r.contributors = {{"site-001", 10}, {"site-002", 30}};
  r.total_examples = 40;
  r.metrics = std::move(metrics);
  r.origin = parent ? "round" : "initial";
  return r;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { store_ = Open(dir_); }
  void TearDown() override {
    store_.reset();
    for (const auto& d : dirs_) std::filesystem::remove_all(d);
  }
  std::unique_ptr<Store> Open(const std::string& dir) {
    dirs_.push_back(dir);
    auto store = Store::Open(dir);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }
  // Adds versions 1..n, each the parent of the next, version v with Blob(v).
  void AddChain(Store& store, uint64_t n) {
    for (uint64_t v = 1; v <= n; ++v) {
      std::vector<uint8_t> blob = Blob(static_cast<float>(v));
      std::optional<uint64_t> parent = v > 1 ? std::optional<uint64_t>(v - 1) : std::nullopt;
      ASSERT_TRUE(store.PutModel(Record(v, parent, blob), blob, true).ok());
    }
  }
  std::vector<uint64_t> Versions(const std::vector<ModelRecord>& records) {
    std::vector<uint64_t> out;
    for (const auto& r : records) out.push_back(r.version);
    return out;
  }

  std::string dir_ = TempDir("a");
  std::vector<std::string> dirs_;
  std::unique_ptr<Store> store_;
};

TEST_F(RegistryTest, LineageWalksParentsBackToTheFirstVersion) {
  AddChain(*store_, 4);
  auto lineage = Lineage(*store_, 4);
  ASSERT_TRUE(lineage.ok()) << lineage.status().ToString();
  EXPECT_EQ(Versions(*lineage), (std::vector<uint64_t>{4, 3, 2, 1}));
  EXPECT_EQ(Versions(*Lineage(*store_, 1)), (std::vector<uint64_t>{1}));
}

TEST_F(RegistryTest, LineageOfAnUnknownVersionIsNotFound) {
  AddChain(*store_, 2);
  auto lineage = Lineage(*store_, 9);
  EXPECT_EQ(lineage.status().code(), Code::kNotFound);
  EXPECT_NE(lineage.status().message().find("no model version 9"), std::string::npos);
}

TEST_F(RegistryTest, LineageWithAMissingParentIsCorruptionNamingBoth) {
  AddChain(*store_, 1);
  std::vector<uint8_t> blob = Blob(5);
  ASSERT_TRUE(store_->PutModel(Record(5, 3, blob), blob).ok());
  auto lineage = Lineage(*store_, 5);
  EXPECT_EQ(lineage.status().code(), Code::kCorruption);
  EXPECT_NE(
      lineage.status().message().find("version 5 names parent version 3, which has no record"),
      std::string::npos)
      << lineage.status().message();
}

TEST_F(RegistryTest, LineageCycleIsCorruptionNamingTheVersion) {
  AddChain(*store_, 3);
  ModelRecord first = *store_->GetModel(1);
  first.parent = 3;
  ASSERT_TRUE(store_->PutModelRecord(first).ok());
  auto lineage = Lineage(*store_, 2);
  EXPECT_EQ(lineage.status().code(), Code::kCorruption);
  EXPECT_NE(lineage.status().message().find("lineage of version 2 loops"), std::string::npos)
      << lineage.status().message();
}

TEST_F(RegistryTest, CompareFlattensMetricsAndReportsAncestry) {
  // 1 -> 2 -> 3, and a branch 1 -> 4. Values are exact in binary so deltas compare exactly.
  std::vector<uint8_t> b1 = Blob(1), b2 = Blob(2), b3 = Blob(3), b4 = Blob(4);
  json m2 = {{"federated_eval", {{"accuracy", 0.5}, {"loss", 1.25}, {"per_class", {0.25, 1.0}}}},
             {"train", {{"loss", 2.0}}}};
  json m3 = {{"federated_eval",
              {{"accuracy", 0.75}, {"loss", 0.5}, {"macro_f1", 0.625}, {"per_class", {0.5, 1.0}}}},
             {"note", "text is not compared"}};
  ASSERT_TRUE(store_->PutModel(Record(1, std::nullopt, b1), b1).ok());
  ASSERT_TRUE(store_->PutModel(Record(2, 1, b2, m2), b2).ok());
  ASSERT_TRUE(store_->PutModel(Record(3, 2, b3, m3), b3).ok());
  ASSERT_TRUE(store_->PutModel(Record(4, 1, b4), b4).ok());

  auto c = CompareModels(*store_, 2, 3);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const json& m = (*c)["metrics"];
  EXPECT_EQ(m["federated_eval.accuracy"], json({{"a", 0.5}, {"b", 0.75}, {"delta", 0.25}}));
  EXPECT_EQ(m["federated_eval.loss"], json({{"a", 1.25}, {"b", 0.5}, {"delta", -0.75}}));
  EXPECT_EQ(m["federated_eval.per_class.0"], json({{"a", 0.25}, {"b", 0.5}, {"delta", 0.25}}));
  EXPECT_EQ(m["federated_eval.per_class.1"]["delta"], 0.0);
  EXPECT_TRUE(m["federated_eval.macro_f1"]["a"].is_null());
  EXPECT_EQ(m["federated_eval.macro_f1"]["b"], 0.625);
  EXPECT_TRUE(m["federated_eval.macro_f1"]["delta"].is_null());
  EXPECT_EQ(m["train.loss"]["a"], 2.0);
  EXPECT_TRUE(m["train.loss"]["b"].is_null());
  EXPECT_FALSE(m.contains("note"));
  EXPECT_EQ(m.size(), 6u);
  EXPECT_EQ((*c)["a"]["version"], 2);
  EXPECT_EQ((*c)["b"]["parent"], 2);
  EXPECT_EQ((*c)["b"]["contributors"], 2);
  EXPECT_FALSE((*c)["same_digest"]);
  EXPECT_EQ((*c)["ancestry"], json({{"ancestor", 2}, {"descendant", 3}, {"distance", 1}}));
  EXPECT_EQ((*c)["common_ancestor"],
            json({{"version", 2}, {"distance_from_a", 0}, {"distance_from_b", 1}}));

  auto back = CompareModels(*store_, 3, 1);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)["ancestry"], json({{"ancestor", 1}, {"descendant", 3}, {"distance", 2}}));

  auto branches = CompareModels(*store_, 3, 4);
  ASSERT_TRUE(branches.ok());
  EXPECT_TRUE((*branches)["ancestry"].is_null());
  EXPECT_EQ((*branches)["common_ancestor"],
            json({{"version", 1}, {"distance_from_a", 2}, {"distance_from_b", 1}}));

  auto self = CompareModels(*store_, 3, 3);
  ASSERT_TRUE(self.ok());
  EXPECT_TRUE((*self)["same_digest"]);
  EXPECT_EQ((*self)["ancestry"]["distance"], 0);

  EXPECT_EQ(CompareModels(*store_, 3, 8).status().code(), Code::kNotFound);
}

TEST_F(RegistryTest, CompareOfUnrelatedVersionsHasNoCommonAncestor) {
  std::vector<uint8_t> b1 = Blob(1), b2 = Blob(2);
  ASSERT_TRUE(store_->PutModel(Record(1, std::nullopt, b1), b1).ok());
  ASSERT_TRUE(store_->PutModel(Record(2, std::nullopt, b2), b2).ok());
  auto c = CompareModels(*store_, 1, 2);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)["ancestry"].is_null());
  EXPECT_TRUE((*c)["common_ancestor"].is_null());
}

TEST_F(RegistryTest, ExportThenImportPreservesBytesAndIdentity) {
  AddChain(*store_, 2);
  json metrics = {{"federated_eval", {{"accuracy", 0.5}}}};
  ASSERT_TRUE(store_->UpdateModelMetrics(2, metrics).ok());
  const std::string path = dir_ + "/v2.fedgemodel";
  ASSERT_TRUE(ExportModel(*store_, 2, path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto exported = ReadExport(path);
  ASSERT_TRUE(exported.ok()) << exported.status().ToString();
  EXPECT_EQ(exported->blob, Blob(2));
  EXPECT_EQ(ToJson(exported->record), ToJson(*store_->GetModel(2)));
  auto file = shared::ReadFile(path, 1 << 20);
  EXPECT_EQ(*file, *EncodeExport(exported->record, exported->blob));

  // Another registry with its own history: the import becomes version 3 and the head stays.
  auto other = Open(TempDir("b"));
  std::vector<uint8_t> b = Blob(100);
  ASSERT_TRUE(other->PutModel(Record(1, std::nullopt, b), b, true).ok());
  std::vector<uint8_t> b2 = Blob(101);
  ASSERT_TRUE(other->PutModel(Record(2, 1, b2), b2, true).ok());
  auto imported = ImportModel(*other, *exported);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  ModelRecord stored = *other->GetModel(3);
  EXPECT_EQ(ToJson(stored), ToJson(*imported));
  EXPECT_EQ(stored.origin, "import");
  EXPECT_FALSE(stored.parent.has_value());
  EXPECT_EQ(stored.digest_hex, exported->record.digest_hex);
  EXPECT_EQ(stored.arch, "cnn_small");
  EXPECT_EQ(stored.metrics["federated_eval"]["accuracy"], 0.5);
  EXPECT_EQ(stored.metrics["imported_from"], json({{"version", 2},
                                                   {"parent", 1},
                                                   {"round", 1},
                                                   {"digest", exported->record.digest_hex},
                                                   {"created_ms", 1002},
                                                   {"contributors", 2},
                                                   {"total_examples", 40},
                                                   {"origin", "round"}}));
  EXPECT_EQ(**other->Head(), 2u);
  auto blob = other->GetBlob(*shared::DigestFromHex(stored.digest_hex));
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, Blob(2));
  // Metrics of the import compare against local versions; its identity block does not.
  auto c = CompareModels(*other, 2, 3);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE((*c)["metrics"].contains("imported_from.version"));
  EXPECT_TRUE((*c)["common_ancestor"].is_null());
}

TEST_F(RegistryTest, CorruptExportsFailClearlyAndImportNothing) {
  AddChain(*store_, 1);
  std::vector<uint8_t> blob = Blob(7);
  ModelRecord record = Record(7, 6, blob, {{"federated_eval", {{"accuracy", 0.5}}}});
  const std::vector<uint8_t> good = *EncodeExport(record, blob);
  ASSERT_TRUE(DecodeExport(good).ok());
  const size_t record_len = good.size() - kExportHeaderSize - blob.size();

  std::vector<uint8_t> garbage = {'n', 'o', 't', ' ', 'a', ' ', 'b', 'u', 'n', 'd', 'l', 'e'};
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    Code code;
    std::string message;
  };
  std::vector<Case> cases;
  auto flipped = [&](size_t at) {
    std::vector<uint8_t> b = good;
    b[at] ^= 0x01;
    return b;
  };
  cases.push_back({"blob byte", flipped(good.size() - 9), Code::kCorruption,
                   "model weights were altered or damaged"});
  cases.push_back({"record byte", flipped(kExportHeaderSize + 3), Code::kCorruption,
                   "header checksum does not match"});
  cases.push_back(
      {"blob length byte", flipped(24), Code::kCorruption, "header checksum does not match"});
  cases.push_back(
      {"header digest byte", flipped(40), Code::kCorruption, "header checksum does not match"});
  cases.push_back({"wrong magic", flipped(0), Code::kInvalidArgument, "not a fedge model export"});
  std::vector<uint8_t> v2 = good;
  v2[8] = 2;
  cases.push_back({"format version", v2, Code::kInvalidArgument, "format version 2"});
  cases.push_back({"truncated blob",
                   {good.begin(), good.end() - 10},
                   Code::kCorruption,
                   "truncated: the blob should be"});
  cases.push_back({"truncated header",
                   {good.begin(), good.begin() + 40},
                   Code::kCorruption,
                   "shorter than its 64-byte header"});
  cases.push_back({"truncated record",
                   {good.begin(), good.begin() + kExportHeaderSize + 5},
                   Code::kCorruption,
                   "truncated or its header is corrupt"});
  std::vector<uint8_t> huge = good;
  huge[16 + 5] = 1;  // record length 2^40
  cases.push_back({"bad record length", huge, Code::kCorruption, "record length"});
  std::vector<uint8_t> trailing = good;
  trailing.push_back(0);
  cases.push_back({"trailing bytes", trailing, Code::kCorruption, "1 unexpected bytes"});
  ModelRecord garbage_record = Record(7, 6, garbage);
  cases.push_back({"not a bundle", *EncodeExport(garbage_record, garbage), Code::kCorruption,
                   "not a valid tensor bundle"});
  ASSERT_GT(record_len, 0u);

  for (const Case& c : cases) {
    const std::string path = dir_ + "/bad.fedgemodel";
    ASSERT_TRUE(shared::WriteFileAtomic(path, c.bytes, 0600).ok());
    auto model = ReadExport(path);
    if (model.ok()) ImportModel(*store_, *model).status().IgnoreError();  // the import flow
    EXPECT_FALSE(model.ok()) << c.name;
    EXPECT_EQ(model.status().code(), c.code) << c.name << ": " << model.status().ToString();
    EXPECT_NE(model.status().message().find(c.message), std::string::npos)
        << c.name << ": " << model.status().message();
    EXPECT_NE(model.status().message().find(path), std::string::npos) << c.name;
    EXPECT_EQ(store_->ListModels()->size(), 1u) << c.name;
  }
}

TEST_F(RegistryTest, EncodeRefusesABlobThatDoesNotMatchTheRecord) {
  std::vector<uint8_t> blob = Blob(1);
  ModelRecord record = Record(1, std::nullopt, Blob(2));
  EXPECT_EQ(EncodeExport(record, blob).status().code(), Code::kInvalidArgument);
}

TEST_F(RegistryTest, DuplicateImportIsAlreadyExistsNamingTheVersion) {
  AddChain(*store_, 2);
  const std::string path = dir_ + "/v2.fedgemodel";
  ASSERT_TRUE(ExportModel(*store_, 2, path).ok());
  auto exported = ReadExport(path);
  ASSERT_TRUE(exported.ok());

  auto same = ImportModel(*store_, *exported);
  EXPECT_EQ(same.status().code(), Code::kAlreadyExists);
  EXPECT_NE(same.status().message().find("as version 2"), std::string::npos);

  auto other = Open(TempDir("b"));
  ASSERT_TRUE(ImportModel(*other, *exported).ok());
  auto again = ImportModel(*other, *exported);
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_NE(again.status().message().find("as version 1"), std::string::npos);
  EXPECT_EQ(other->ListModels()->size(), 1u);
  EXPECT_FALSE(other->Head()->has_value());
}

TEST_F(RegistryTest, RetentionKeepsPolicyVersionsAndPrunesTheRest) {
  AddChain(*store_, 10);
  // Version 3 carries the same weights as version 9 (kept as one of the newest).
  ModelRecord v3 = *store_->GetModel(3);
  v3.digest_hex = store_->GetModel(9)->digest_hex;
  ASSERT_TRUE(store_->PutModelRecord(v3).ok());
  const RetentionPolicy policy{.keep_last = 2, .keep_every = 4};
  // Kept: 1 (first), 7 (head), 9 and 10 (newest 2), 4 and 8 (every 4), 3 (shares 9's blob).
  auto result = ApplyRetention(*store_, policy, 7);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->pruned, (std::vector<uint64_t>{2, 5, 6}));
  EXPECT_EQ(result->bytes_freed, 3 * Blob(1).size());
  for (uint64_t v = 1; v <= 10; ++v) {
    ModelRecord r = *store_->GetModel(v);
    const bool pruned = v == 2 || v == 5 || v == 6;
    EXPECT_EQ(r.blob_deleted, pruned) << v;
    EXPECT_EQ(store_->HasBlob(*shared::DigestFromHex(r.digest_hex)), !pruned) << v;
  }
  // Records stay: lineage walks through pruned versions and compare still works.
  EXPECT_EQ(Lineage(*store_, 10)->size(), 10u);
  EXPECT_TRUE(CompareModels(*store_, 6, 10).ok());
  Status exported = ExportModel(*store_, 5, dir_ + "/v5.fedgemodel");
  EXPECT_EQ(exported.code(), Code::kNotFound);
  EXPECT_NE(exported.message().find("deleted by the retention policy"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/v5.fedgemodel"));
  EXPECT_TRUE(ExportModel(*store_, 3, dir_ + "/v3.fedgemodel").ok());

  auto before = store_->ListModels();
  auto again = ApplyRetention(*store_, policy, 7);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->pruned.empty());
  EXPECT_EQ(again->bytes_freed, 0u);
  auto after = store_->ListModels();
  ASSERT_EQ(before->size(), after->size());
  for (size_t i = 0; i < before->size(); ++i) {
    EXPECT_EQ(ToJson((*before)[i]), ToJson((*after)[i]));
  }
}

TEST_F(RegistryTest, RetentionWithKeepLastZeroOrAnUnknownHead) {
  AddChain(*store_, 4);
  auto none = ApplyRetention(*store_, {}, 4);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->pruned.empty());
  for (uint64_t v = 1; v <= 4; ++v) EXPECT_FALSE(store_->GetModel(v)->blob_deleted);
  auto bad = ApplyRetention(*store_, {.keep_last = 1}, 9);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("head version 9"), std::string::npos);
}

TEST_F(RegistryTest, RetentionFinishesARunInterruptedAfterMarking) {
  AddChain(*store_, 4);
  ModelRecord v2 = *store_->GetModel(2);
  v2.blob_deleted = true;  // marked, but the blob was never deleted
  ASSERT_TRUE(store_->PutModelRecord(v2).ok());
  auto result = ApplyRetention(*store_, {.keep_last = 1}, 4);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->pruned, (std::vector<uint64_t>{3}));
  EXPECT_EQ(result->bytes_freed, 2 * v2.size_bytes);
  EXPECT_FALSE(store_->HasBlob(*shared::DigestFromHex(v2.digest_hex)));
}

}  // namespace
}  // namespace fedge::coordinator
