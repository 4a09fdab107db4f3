#pragma once
// A Peer for unit tests: records every typed message it is sent, in order. Not thread-safe:
// send to it and read it from one thread at a time (tests run the engine's executor on the
// test thread).

#include <string>
#include <utility>
#include <vector>

#include "coordinator/peer.h"

namespace fedge::testing {

class FakePeer : public coordinator::Peer {
 public:
  struct Ack {
    uint64_t task_id = 0;
    coordinator::AckKind kind = coordinator::AckKind::kAccepted;
    std::string message;
  };
  struct Error {
    shared::Status status;
    uint64_t task_id = 0;
    wire::ErrorSubject subject = wire::ErrorSubject::None;
  };
  struct BlobRequest {
    wire::BlobKind kind = wire::BlobKind::Model;
    shared::Digest digest{};
    uint64_t offset = 0;
  };

  explicit FakePeer(std::string id) : id_(std::move(id)) {}

  const std::string& client_id() const override { return id_; }
  void SendOffer(const coordinator::TaskOfferOut& offer) override {
    sent.push_back(wire::Message::TaskOffer);
    offers.push_back(offer);
  }
  void SendAck(uint64_t task_id, coordinator::AckKind kind, const std::string& message) override {
    sent.push_back(wire::Message::Ack);
    acks.push_back({task_id, kind, message});
  }
  void SendError(const shared::Status& status, uint64_t task_id,
                 wire::ErrorSubject subject) override {
    sent.push_back(wire::Message::Error);
    errors.push_back({status, task_id, subject});
  }
  void SendBlobRequest(wire::BlobKind kind, const shared::Digest& digest,
                       uint64_t offset) override {
    sent.push_back(wire::Message::BlobRequest);
    blob_requests.push_back({kind, digest, offset});
  }
  void SendProfile(const coordinator::ProfileOut& profile) override {
    sent.push_back(wire::Message::ReferenceProfile);
    profiles.push_back(profile);
  }
  void SendReleaseOffer(const coordinator::ReleaseOfferOut& offer) override {
    sent.push_back(wire::Message::ReleaseOffer);
    release_offers.push_back(offer.target);
  }
  void SendReleaseRevert(const coordinator::ReleaseRevertOut& revert) override {
    sent.push_back(wire::Message::ReleaseRevert);
    release_reverts.push_back(revert.target);
  }
  void Close() override { closed = true; }

  std::vector<wire::Message> sent;  // every message's type, in order
  std::vector<coordinator::TaskOfferOut> offers;
  std::vector<Ack> acks;
  std::vector<Error> errors;
  std::vector<BlobRequest> blob_requests;
  std::vector<coordinator::ProfileOut> profiles;
  std::vector<std::string> release_offers;   // targets
  std::vector<std::string> release_reverts;  // targets
  bool closed = false;

 private:
  std::string id_;
};

}  // namespace fedge::testing
