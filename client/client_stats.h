#pragma once
// What a Client counts (sessions, tasks, updates, drift reports), read by its metrics and by
// tests and simulations. Every field is an atomic: written by the client, read by anyone.
// Also the faults a simulation injects (ClientFaults).

#include <atomic>
#include <cstdint>
#include <functional>

#include "shared/codec/tensor_bundle.h"

namespace fedge::client {

// Frames an inference loop could not keep in the store (NoteKeepResult, client/inference.h).
// Thread-safe.
struct KeepFailures {
  std::atomic<uint64_t> count{0};    // saves (or quarantines) that failed
  std::atomic<bool> failing{false};  // the latest one failed: a warning was logged
};

struct ClientStats {
  std::atomic<uint64_t> sessions{0};
  std::atomic<uint64_t> tasks_trained{0};
  std::atomic<uint64_t> tasks_evaluated{0};
  std::atomic<uint64_t> models_downloaded{0};
  std::atomic<uint64_t> updates_acked{0};
  std::atomic<uint64_t> errors_received{0};
  std::atomic<uint64_t> tasks_skipped{0};   // superseded or past their deadline
  std::atomic<uint64_t> updates_resent{0};  // submitted again after a reconnect or by a fault
  std::atomic<uint64_t> duplicates_acked{0};
  std::atomic<uint64_t> frames_observed{0};
  std::atomic<uint64_t> drift_reports_sent{0};
  std::atomic<uint64_t> drift_reports_dropped{0};  // finished while disconnected
  std::atomic<uint64_t> drift_reports_refused{0};  // answered with an Error
  // The coordinator's defence quarantined this site (Error{subject Standing}): it gets no
  // task until the central team clears it. Notices received (one per session and quarantine).
  std::atomic<uint64_t> quarantine_notices{0};
  KeepFailures frames_not_kept;  // camera frames the sample store failed to keep (a full disk)
};

// Faults a simulation can inject into an otherwise normal client.
struct ClientFaults {
  bool never_answer = false;    // connects and heartbeats but ignores every task offer
  bool resend_updates = false;  // submits every acknowledged update once more
  // A malicious trainer (fedge-sim's [adversary]): rewrites the trained model `trained` of a
  // training task started from `base` before it is encoded and sent.
  std::function<void(const shared::TensorBundle& base, shared::TensorBundle* trained)>
      tamper_update;
};

}  // namespace fedge::client
