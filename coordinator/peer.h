#pragma once
// A connected client as the coordinator's components see it: an identity and typed outbound
// messages. Production peers are Sessions (coordinator/session.h), which encode each message
// with coordinator/outbound.h; tests use fakes that record the typed calls. Protocol facts
// (a duplicate, what an Error refuses) are fields, never text to be parsed.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "schemas/fedge_generated.h"
#include "shared/base/status.h"
#include "shared/crypto/crypto.h"
#include "shared/drift/drift_stats.h"
#include "shared/ml/data/augment.h"

namespace fedge::coordinator {

// Local-training settings of a TaskOffer (wire TrainParams).
struct TrainParamsOut {
  uint32_t epochs = 0;
  uint32_t batch_size = 0;
  float learning_rate = 0;
  float momentum = 0;
  uint64_t seed = 0;
  std::optional<ml::AugmentOptions> augment;  // nullopt: no augmentation
  uint64_t focus_since_ms = 0;                // 0: no focus on recent frames
  float focus_fraction = 0;
};

// A train or evaluate task on the model `model_version` (wire TaskOffer).
struct TaskOfferOut {
  uint64_t task_id = 0;
  uint64_t round = 0;
  bool train = true;  // false: evaluate
  uint64_t model_version = 0;
  shared::Digest model_digest{};
  uint64_t model_size = 0;
  std::string model_arch;
  TrainParamsOut params;
  uint32_t deadline_ms = 0;
  wire::Codec codec = wire::Codec::Fp32;
  float topk_fraction = 0;
};

// The reference drift profile of a model version (wire ReferenceProfile).
struct ProfileOut {
  uint64_t model_version = 0;
  uint32_t clients = 0;  // clients whose evaluation summaries were merged (0: loaded at start)
  drift::Summary summary;
};

// A signed release to install (wire ReleaseOffer). `files` is borrowed for the call only.
struct ReleaseOfferOut {
  uint64_t rollout_id = 0;
  std::string target;
  uint64_t counter = 0;
  std::span<const std::pair<std::string, std::vector<uint8_t>>> files;  // name -> bytes
  shared::Digest artifact_digest{};
  uint64_t artifact_size = 0;
  bool evaluate = false;  // a canary: evaluate the new and the previous model
};

// Go back from release `target` (wire ReleaseRevert).
struct ReleaseRevertOut {
  uint64_t rollout_id = 0;
  std::string target;
  uint64_t counter = 0;
  std::string reason;
  // The repository's metadata, as in an offer: the client reverts only to a release it lists.
  std::span<const std::pair<std::string, std::vector<uint8_t>>> files;
};

enum class AckKind {
  kAccepted,   // the update is stored durably / the evaluation is recorded
  kDuplicate,  // the update was accepted before; this resend was ignored
};

// Thread-safety: every method may be called from any thread; the Send* calls only queue.
class Peer {
 public:
  virtual ~Peer() = default;
  // The client's id (its certificate's common name); stable for the peer's lifetime.
  virtual const std::string& client_id() const = 0;
  virtual void SendOffer(const TaskOfferOut& offer) = 0;
  // `message` is for people (logs); the client reads only `kind`.
  virtual void SendAck(uint64_t task_id, AckKind kind, const std::string& message) = 0;
  // Refuses something: `status` (code and text), the task it concerns (0: none) and what was
  // refused.
  virtual void SendError(const shared::Status& status, uint64_t task_id,
                         wire::ErrorSubject subject) = 0;
  // Asks for blob `digest` from byte `offset`.
  virtual void SendBlobRequest(wire::BlobKind kind, const shared::Digest& digest,
                               uint64_t offset) = 0;
  virtual void SendProfile(const ProfileOut& profile) = 0;
  virtual void SendReleaseOffer(const ReleaseOfferOut& offer) = 0;
  virtual void SendReleaseRevert(const ReleaseRevertOut& revert) = 0;
  // Ends the connection (a newer session of the same client replaced it).
  virtual void Close() = 0;
};

}  // namespace fedge::coordinator
