#pragma once
// The coordinator's trust boundary: every message a client sends, read into a checked, typed
// value. Nothing else in the coordinator reads a client's FlatBuffers. Each reader bounds every
// string (valid UTF-8, no control characters, a byte cap per field), every list (entries and
// bytes) and every number a later step adds up or stores, so that what passes can be copied,
// stored as JSON, logged and summed without a further check. Errors are InvalidArgument naming
// the field and the limit; the session refuses the message with them and goes on.
//
// Limits are fixed protocol facts (not settings): ids of 128 bytes, names of 255, at most 64
// metrics, 1,000 classes. A client that needs more is not a fedge client.

#include <cstdint>
#include <string>

#include "coordinator/drift_policy.h"
#include "coordinator/evaluation_merge.h"
#include "coordinator/rollout.h"
#include "coordinator/round_engine.h"
#include "coordinator/update_ingest.h"
#include "schemas/fedge_generated.h"
#include "shared/base/status.h"

namespace fedge::coordinator::wire_in {

inline constexpr size_t kMaxIdBytes = 128;         // idempotency ids
inline constexpr size_t kMaxNameBytes = 255;       // release targets, feature and metric names
inline constexpr size_t kMaxMetrics = 64;          // metrics of an update, distances of a report
inline constexpr size_t kMaxFreeTextBytes = 2000;  // error texts, as logged and stored
inline constexpr uint32_t kMaxClasses = 1000;
// Example counts a client may claim (per update, evaluation or Hello): 2^32 / 100, so that a
// claim times any weight factor still sums exactly in 64 bits over many clients.
inline constexpr uint64_t kMaxExamples = 42'949'672;

// A Hello: the counts the client registers for this session, and the release it runs.
struct HelloIn {
  ClientHello info;            // without the fingerprint (the session adds it)
  std::string release_target;  // "" = none
  uint64_t release_counter = 0;
};
shared::Result<HelloIn> ReadHello(const wire::Hello& hello);
shared::Result<UpdateIn> ReadUpdateSubmit(const wire::UpdateSubmit& submit);
// The confusion matrix must be num_classes x num_classes and sum to the example count; the loss
// finite and non-negative; the drift profile, when present, well-formed.
shared::Result<EvalIn> ReadEvalReport(const wire::EvalReport& report);
shared::Result<DriftReportIn> ReadDriftReport(const wire::DriftReport& report);
shared::Result<InstallReportIn> ReadInstallReport(const wire::InstallReport& report);
// A client's Error, as text safe to log (never refused).
std::string ReadPeerError(const wire::Error& error);

}  // namespace fedge::coordinator::wire_in
