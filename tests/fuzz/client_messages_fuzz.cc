// libFuzzer harness: a coordinator's message as the client reads it (a coordinator is
// authenticated, but may be compromised): the envelope verifier, the client's dispatch
// (client/session_dispatch) and the readers its handlers use: TaskFromOffer, the drift profile
// reader, digests, error codes, a release offer's files. Checks the promises the client relies
// on: a task's training parameters are clamped, a profile that reads passes Validate.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "client/session_dispatch.h"
#include "client/trainer.h"
#include "shared/drift/drift_wire.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"

namespace {

using fedge::shared::Status;
namespace wire = fedge::wire;

class Reader : public fedge::client::MessageHandlers {
 public:
  Status OnTaskOffer(const wire::TaskOffer& offer) override {
    auto task = fedge::client::TaskFromOffer(offer, std::chrono::steady_clock::time_point{});
    if (!task.ok()) return Status::Ok();
    const auto& o = task->options;
    if (o.epochs < 1 || o.epochs > 1000 || o.batch_size < 1 || o.batch_size > 65536 ||
        task->focus_fraction < 0 || task->focus_fraction > 0.95f ||
        o.augment.crop_pad > (1 << 16) || task->arch.size() != offer.model_arch()->size()) {
      std::abort();
    }
    return Status::Ok();
  }
  Status OnModelChunk(const wire::BlobChunk& c) override { return Chunk(c); }
  Status OnReleaseChunk(const wire::BlobChunk& c) override { return Chunk(c); }
  Status OnBlobRequest(const wire::BlobRequest& r) override {
    return fedge::shared::DigestField(r.digest(), "BlobRequest.digest").status();
  }
  Status OnAck(const wire::Ack& a) override {
    if (a.message() != nullptr) (void)a.message()->str();
    return Status::Ok();
  }
  Status OnError(const wire::Error& e) override {
    (void)fedge::shared::FromWireCode(e.code());
    if (e.message() != nullptr) (void)e.message()->str();
    return Status::Ok();
  }
  Status OnReferenceProfile(const wire::ReferenceProfile& p) override {
    if (p.summary() == nullptr) return Status::Ok();
    auto summary = fedge::drift::FromWire(*p.summary());
    if (summary.ok() && !summary->Validate().ok()) std::abort();  // what reads is consistent
    return Status::Ok();
  }
  Status OnReleaseOffer(const wire::ReleaseOffer& o) override {
    for (const wire::ReleaseFile* f : *o.files()) {
      std::string name = f->name()->str();
      std::vector<uint8_t> data(f->data()->begin(), f->data()->end());
      (void)name;
    }
    return fedge::shared::DigestField(o.artifact_digest(), "digest").status();
  }
  Status OnReleaseRevert(const wire::ReleaseRevert& r) override {
    if (r.files() != nullptr) {
      for (const wire::ReleaseFile* f : *r.files()) (void)f->name()->str();
    }
    return Status::Ok();
  }

 private:
  Status Chunk(const wire::BlobChunk& c) {
    auto d = fedge::shared::DigestField(c.digest(), "BlobChunk.digest");
    if (d.ok() && c.data()->size() > 0) (void)c.data()->data()[c.data()->size() - 1];
    return d.status();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto env = fedge::shared::VerifyEnvelope(std::span<const uint8_t>(data, size));
  if (!env.ok()) return 0;
  Reader reader;
  (void)fedge::client::DispatchMessage(**env, reader);
  return 0;
}
