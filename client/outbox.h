#pragma once
// The outbox: finished updates kept until the coordinator acknowledges or refuses them. An
// update is written to the sample store (synced) before it is first sent and leaves it when
// it is forgotten, so it survives a restart of the client; on every new session each one is
// submitted again (the coordinator resumes a partial upload or acknowledges a duplicate).

#include <cstdint>
#include <map>
#include <vector>

#include "client/sample_store.h"
#include "shared/base/status.h"
#include "shared/crypto/crypto.h"

namespace fedge::shared {
class Connection;
}

namespace fedge::client {

// Not thread-safe: the client's session strand owns it.
class Outbox {
 public:
  struct Entry {
    uint64_t round = 0;
    shared::Digest digest{};       // Sha256(blob)
    std::vector<uint8_t> submit;   // the UpdateSubmit frame payload
    std::vector<uint8_t> blob;     // the encoded update
    bool resent_by_fault = false;  // ClientFaults::resend_updates did its one resend
    // The connection it was submitted on (compared, never dereferenced); null: not yet.
    const shared::Connection* sent_on = nullptr;
  };
  using Entries = std::map<uint64_t, Entry>;  // task id -> update

  // `store` (not owned) must outlive the outbox.
  explicit Outbox(SampleStore& store);

  // Reads the updates an earlier run left in the store. A record whose task id is not a
  // number is deleted and skipped. Errors: the store's.
  shared::Status Load();
  // Keeps `entry` as the update of `task_id` (replacing one kept before), in the store first.
  // Returns the store's error, if any: the entry is then kept in memory only (delivered unless
  // the client restarts first).
  shared::Status Add(uint64_t task_id, Entry entry);
  // Forgets the update of `task_id` (acknowledged or refused); no-op if there is none. Returns
  // the store's error, if any (the entry is forgotten in memory regardless).
  shared::Status Remove(uint64_t task_id);

  // The update of `task_id`, or null. Valid until it is removed.
  Entry* Find(uint64_t task_id);
  // The first update (lowest task id) whose blob has `digest`, or null.
  const Entry* FindByDigest(const shared::Digest& digest) const;
  Entries& entries() { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  SampleStore& store_;
  Entries entries_;
};

}  // namespace fedge::client
