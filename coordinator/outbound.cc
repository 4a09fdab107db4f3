#include "coordinator/outbound.h"

#include "shared/drift/drift_wire.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

namespace {
flatbuffers::Offset<wire::TrainParams> ToWire(flatbuffers::FlatBufferBuilder& fbb,
                                              const TrainParamsOut& p) {
  flatbuffers::Offset<wire::Augment> augment = 0;
  if (p.augment) {
    const ml::AugmentOptions& a = *p.augment;
    augment = wire::CreateAugment(fbb, a.hflip, static_cast<uint32_t>(a.crop_pad), a.brightness,
                                  a.contrast, a.gamma, a.blur_prob, a.noise_std);
  }
  return wire::CreateTrainParams(fbb, p.epochs, p.batch_size, p.learning_rate, p.momentum, p.seed,
                                 augment, p.focus_since_ms, p.focus_fraction);
}
}  // namespace

std::vector<uint8_t> EncodeOffer(const TaskOfferOut& o) {
  flatbuffers::FlatBufferBuilder fbb(512);
  auto digest = fbb.CreateVector(o.model_digest.data(), o.model_digest.size());
  auto arch = fbb.CreateString(o.model_arch);
  auto params = ToWire(fbb, o.params);
  auto offer = wire::CreateTaskOffer(
      fbb, o.task_id, o.round, o.train ? wire::TaskKind::Train : wire::TaskKind::Evaluate,
      o.model_version, digest, o.model_size, arch, params, o.deadline_ms, o.codec, o.topk_fraction);
  return shared::FinishEnvelope(fbb, offer);
}

std::vector<uint8_t> EncodeProfile(const ProfileOut& p) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  auto summary = drift::ToWire(fbb, p.summary);
  return shared::FinishEnvelope(
      fbb, wire::CreateReferenceProfile(fbb, p.model_version, p.clients, summary));
}

namespace {
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::ReleaseFile>>> ReleaseFiles(
    flatbuffers::FlatBufferBuilder& fbb,
    std::span<const std::pair<std::string, std::vector<uint8_t>>> files) {
  std::vector<flatbuffers::Offset<wire::ReleaseFile>> out;
  for (const auto& [name, bytes] : files) {
    auto n = fbb.CreateString(name);
    auto d = fbb.CreateVector(bytes);
    out.push_back(wire::CreateReleaseFile(fbb, n, d));
  }
  return fbb.CreateVector(out);
}
}  // namespace

std::vector<uint8_t> EncodeReleaseOffer(const ReleaseOfferOut& o) {
  flatbuffers::FlatBufferBuilder fbb(4096);
  auto fv = ReleaseFiles(fbb, o.files);
  auto target = fbb.CreateString(o.target);
  auto dv = fbb.CreateVector(o.artifact_digest.data(), o.artifact_digest.size());
  return shared::FinishEnvelope(fbb, wire::CreateReleaseOffer(fbb, o.rollout_id, target, o.counter,
                                                              fv, dv, o.artifact_size, o.evaluate));
}

std::vector<uint8_t> EncodeReleaseRevert(const ReleaseRevertOut& r) {
  flatbuffers::FlatBufferBuilder fbb(4096);
  auto fv = ReleaseFiles(fbb, r.files);
  auto target = fbb.CreateString(r.target);
  auto why = fbb.CreateString(r.reason);
  return shared::FinishEnvelope(
      fbb, wire::CreateReleaseRevert(fbb, r.rollout_id, target, r.counter, why, fv));
}

void WirePeer::SendOffer(const TaskOfferOut& offer) { SendPayload(EncodeOffer(offer)); }

void WirePeer::SendAck(uint64_t task_id, AckKind kind, const std::string& message) {
  SendPayload(shared::MakeAck(task_id, message, kind == AckKind::kDuplicate));
}

void WirePeer::SendError(const shared::Status& status, uint64_t task_id,
                         wire::ErrorSubject subject) {
  SendPayload(shared::MakeErrorMessage(status, task_id, subject));
}

void WirePeer::SendBlobRequest(wire::BlobKind kind, const shared::Digest& digest, uint64_t offset) {
  SendPayload(shared::MakeBlobRequest(kind, digest, offset));
}

void WirePeer::SendProfile(const ProfileOut& profile) { SendPayload(EncodeProfile(profile)); }

void WirePeer::SendReleaseOffer(const ReleaseOfferOut& offer) {
  SendPayload(EncodeReleaseOffer(offer));
}

void WirePeer::SendReleaseRevert(const ReleaseRevertOut& revert) {
  SendPayload(EncodeReleaseRevert(revert));
}

}  // namespace fedge::coordinator
