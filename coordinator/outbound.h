#pragma once
// The coordinator's outbound messages as wire bytes: the one place that builds them from the
// typed values of coordinator/peer.h. WirePeer implements Peer on top of a byte transport.

#include <cstdint>
#include <vector>

#include "coordinator/peer.h"

namespace fedge::coordinator {

// Each returns one verified-envelope payload (shared/net/wire.h FinishEnvelope).
std::vector<uint8_t> EncodeOffer(const TaskOfferOut& offer);
std::vector<uint8_t> EncodeProfile(const ProfileOut& profile);
std::vector<uint8_t> EncodeReleaseOffer(const ReleaseOfferOut& offer);
std::vector<uint8_t> EncodeReleaseRevert(const ReleaseRevertOut& revert);

// A Peer whose typed messages are encoded here and handed to SendPayload. Thread-safety: as
// thread-safe as SendPayload (which must only queue).
class WirePeer : public Peer {
 public:
  void SendOffer(const TaskOfferOut& offer) override;
  void SendAck(uint64_t task_id, AckKind kind, const std::string& message) override;
  void SendError(const shared::Status& status, uint64_t task_id,
                 wire::ErrorSubject subject) override;
  void SendBlobRequest(wire::BlobKind kind, const shared::Digest& digest, uint64_t offset) override;
  void SendProfile(const ProfileOut& profile) override;
  void SendReleaseOffer(const ReleaseOfferOut& offer) override;
  void SendReleaseRevert(const ReleaseRevertOut& revert) override;

 protected:
  // Queues one encoded message.
  virtual void SendPayload(std::vector<uint8_t> payload) = 0;
};

}  // namespace fedge::coordinator
