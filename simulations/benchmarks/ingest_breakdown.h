#pragma once
// ingest_bench's synthetic updates and its per-update breakdown of the coordinator's ingest
// work: each step the coordinator runs on an update (frame verification, blob assembly with
// its SHA-256, the second SHA-256, DecodeBundle, Validate, Fold, the synced RocksDB write)
// timed one at a time on the same bytes, plus raw disk writes with and without fdatasync.

#include <cstdint>
#include <string>

#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::sim {

// Overwrites `update` (shaped like the model: every tensor's data sized to its shape) with
// client `client`'s values for `round`, uniform in [-0.1, 0.1), and returns its example count
// (100..499). Deterministic in (client, round).
uint64_t FillIngestUpdate(int client, int round, shared::TensorBundle* update);

struct BreakdownInput {
  const shared::TensorBundle* layout = nullptr;  // the model's state (borrowed)
  int updates = 96;                              // updates timed per component
  int clients = 8;                               // tasks in the open-round record stored
  std::string dir;                               // created; holds a fresh Store and a file
  double ingest_mbs = 0;                         // measured end to end, for the summary
  double tls_mbs = 0;
};

// Times every component, prints a table and what bounds the ingest rate. IOError/Internal on
// a failure of a component (never on a timing).
shared::Status RunBreakdown(const BreakdownInput& in);

}  // namespace fedge::sim
