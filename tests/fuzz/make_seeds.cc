// Writes the seed corpus of the fuzz harnesses (tests/fuzz/corpus/NAME/): one well-formed
// message of each kind a client sends, a two-frame stream, release metadata of each role, a
// model artifact and a coordinator config. Built and run by `scripts/fuzz --seeds`; the files
// are committed, so a change of the schema is one run of it away.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "shared/drift/drift_wire.h"
#include "shared/ml/weights/artifact.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"
#include "shared/release/envelope.h"

namespace {

using namespace fedge;

void Write(const std::string& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

drift::Summary SomeSummary() {
  drift::Summary s;
  for (int i = 0; i < 20; ++i) {
    drift::FrameObservation f;
    f.brightness = 0.3 + 0.01 * i;
    f.contrast = 0.2;
    f.sharpness = 0.1;
    f.saturation = 0.4;
    f.has_output = true;
    f.confidence = 0.8;
    f.entropy = 0.3;
    f.predicted_class = i % 3;
    s.Add(f, 3);
  }
  return s;
}

template <typename T>
T OrDie(shared::Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "make_seeds: %s: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

void ReleaseSeeds(const std::string& dir) {
  namespace rel = shared::release;
  rel::TargetsMetadata targets;
  targets.version = 3;
  targets.expires = 1900000000;
  rel::TargetInfo t;
  t.name = "fedge-model-v3.fedge";
  t.length = 123456;
  t.sha256.fill(0x5a);
  t.release_counter = 3;
  t.model_id = "fedge-model";
  t.compatibility = {"cnn_small", {1, 28, 28}, "0.1.0"};
  targets.targets[t.name] = t;
  const std::string payload = OrDie(rel::EncodePayload(targets), "targets");
  Write(dir, "targets", Bytes(rel::Envelope(payload).Serialize()));
  rel::SnapshotMetadata snapshot;
  snapshot.expires = 1900000000;
  snapshot.targets = {3, payload.size(), {}};
  Write(dir, "snapshot",
        Bytes(rel::Envelope(OrDie(rel::EncodePayload(snapshot), "snapshot")).Serialize()));
  rel::TimestampMetadata timestamp;
  timestamp.expires = 1900000000;
  timestamp.snapshot = {1, 200, {}};
  Write(dir, "timestamp",
        Bytes(rel::Envelope(OrDie(rel::EncodePayload(timestamp), "timestamp")).Serialize()));
}

void ArtifactSeed(const std::string& dir) {
  ml::Artifact a;
  a.arch = "cnn_small";
  a.input_shape = {1, 28, 28};
  a.num_classes = 10;
  ml::StoredTensor w;
  w.name = "fc.weight";
  w.shape = {2, 3};
  w.values = {0.1f, -0.2f, 0.3f, 0.0f, 1.5f, -1.0f};
  a.tensors.push_back(w);
  a.model_id = "fedge-model";
  a.version = 2;
  a.parent_version = 1;
  a.created_unix = 1700000000;
  a.metrics["accuracy"] = 0.87;
  a.compatibility = {"cnn_small", {1, 28, 28}, "0.1.0"};
  Write(dir, "small_model", OrDie(ml::EncodeArtifact(a), "artifact"));
}

}  // namespace

// What a coordinator sends a client: a training offer with every parameter, a reference
// profile, a release offer and a revert.
void ClientSeeds(const std::string& dir) {
  const shared::Digest digest = shared::Sha256(Bytes("model"));
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto aug = wire::CreateAugment(fbb, true, 4, 0.2f, 0.2f, 0.1f, 0.3f, 0.05f);
    auto params = wire::CreateTrainParams(fbb, 2, 32, 0.05f, 0.9f, 7, aug, 1000, 0.5f);
    auto d = fbb.CreateVector(digest.data(), digest.size());
    auto arch = fbb.CreateString("cnn_small/c1=16,c2=32,f1=64");
    Write(dir, "task_offer",
          shared::FinishEnvelope(
              fbb, wire::CreateTaskOffer(fbb, 11, 3, wire::TaskKind::Train, 2, d, 1234, arch,
                                         params, 60000, wire::Codec::TopKInt8, 0.1f)));
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto summary = drift::ToWire(fbb, SomeSummary());
    Write(dir, "reference_profile",
          shared::FinishEnvelope(fbb, wire::CreateReferenceProfile(fbb, 2, 3, summary)));
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto name = fbb.CreateString("timestamp.json");
    auto bytes = fbb.CreateVector(Bytes("{\"signatures\":[],\"signed\":\"e30=\"}"));
    std::vector<flatbuffers::Offset<wire::ReleaseFile>> files{
        wire::CreateReleaseFile(fbb, name, bytes)};
    auto fv = fbb.CreateVector(files);
    auto target = fbb.CreateString("fedge-2.fdga");
    auto d = fbb.CreateVector(digest.data(), digest.size());
    Write(dir, "release_offer",
          shared::FinishEnvelope(fbb,
                                 wire::CreateReleaseOffer(fbb, 4, target, 2, fv, d, 5000, true)));
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto target = fbb.CreateString("fedge-2.fdga");
    auto why = fbb.CreateString("accuracy regression");
    Write(dir, "release_revert",
          shared::FinishEnvelope(fbb, wire::CreateReleaseRevert(fbb, 4, target, 2, why)));
  }
  Write(dir, "error",
        shared::MakeErrorMessage(shared::Status::NotFound("no such blob"), 3,
                                 wire::ErrorSubject::Blob));
}

int main(int argc, char** argv) {
  const std::string root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
  const std::string messages = root + "/coordinator_messages_fuzz";
  std::vector<std::vector<uint8_t>> all;
  {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<uint64_t> counts = {10, 12, 9};
    auto c = fbb.CreateVector(counts);
    auto target = fbb.CreateString("fedge-model");
    auto sw = fbb.CreateString("fedge-client");
    all.push_back(
        shared::FinishEnvelope(fbb, wire::CreateHello(fbb, 1, 1, sw, 31, 8, c, target, 4)));
    Write(messages, "hello", all.back());
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<wire::KeyValue>> kvs = {
        wire::CreateKeyValueDirect(fbb, "loss", 0.42), wire::CreateKeyValueDirect(fbb, "steps", 3)};
    auto m = fbb.CreateVector(kvs);
    auto id = fbb.CreateString("site-001/2001000000");
    std::vector<uint8_t> digest(32, 0xab);
    auto d = fbb.CreateVector(digest);
    all.push_back(shared::FinishEnvelope(
        fbb, wire::CreateUpdateSubmit(fbb, 2001000000, 2, id, 93, m, wire::Codec::Fp32, d, 4096)));
    Write(messages, "update_submit", all.back());
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<uint64_t> confusion = {5, 1, 0, 1, 6, 1, 0, 0, 4};
    auto c = fbb.CreateVector(confusion);
    auto profile = drift::ToWire(fbb, SomeSummary());
    all.push_back(shared::FinishEnvelope(
        fbb, wire::CreateEvalReport(fbb, 2002000001, 2, 3, 18, 0.7, 0.83, c, 3, profile)));
    Write(messages, "eval_report", all.back());
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto summary = drift::ToWire(fbb, SomeSummary());
    std::vector<flatbuffers::Offset<wire::KeyValue>> kvs = {
        wire::CreateKeyValueDirect(fbb, "brightness", 0.12)};
    auto dist = fbb.CreateVector(kvs);
    auto top = fbb.CreateString("brightness");
    all.push_back(shared::FinishEnvelope(
        fbb, wire::CreateDriftReport(fbb, 3, 7, 0.12, top, false, false, false, 0.01, dist, summary,
                                     0, 1700000000000)));
    Write(messages, "drift_report", all.back());
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto target = fbb.CreateString("fedge-model");
    auto err = fbb.CreateString("");
    auto prev = fbb.CreateString("");
    auto active = fbb.CreateString("fedge-model");
    all.push_back(shared::FinishEnvelope(
        fbb, wire::CreateInstallReport(fbb, 1, target, 2, true, false, err, 3.5, 200, 0.86, 0.85,
                                       prev, active, 2)));
    Write(messages, "install_report", all.back());
  }
  all.push_back(shared::MakeTaskFailure(shared::Code::kNotFound, 2001000000));
  Write(messages, "task_failure", all.back());

  std::vector<uint8_t> stream = {7};  // the harness's piece size
  for (size_t i : {size_t{0}, size_t{5}}) {
    std::vector<uint8_t> frame = shared::EncodeFrame(all[i]);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  Write(root + "/frame_decoder_fuzz", "two_frames", stream);
  ReleaseSeeds(root + "/release_metadata_fuzz");
  ArtifactSeed(root + "/artifact_fuzz");
  Write(root + "/config_fuzz", "coordinator_toml",
        Bytes("[server]\nlisten = \"0.0.0.0\"\nport = 7443\n\n[tls]\nca = \"ca.crt\"\n\n"
              "[rounds]\nmin_fit = 2\nseed = 7\nfraction_fit = 0.5\nevaluate = true\n\n"
              "[sim]\nclients = [0, 1, 2]\n"));
  ClientSeeds(root + "/client_messages_fuzz");
  Write(root + "/labels_fuzz", "csv",
        Bytes("\xEF\xBB\xBF"
              "frame_id,label,note\r\nsite3#120,4,ok\n\"a,\"\"b\"\"\",+2,\n\n"));
  Write(root + "/labels_fuzz", "jsonl",
        Bytes("{\"frame_id\": \"site3#120\", \"label\": 3}\n\n{\"frame_id\": \"x\", "
              "\"label\": 12}\n"));
  return 0;
}
