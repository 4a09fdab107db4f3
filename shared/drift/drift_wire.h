#pragma once
// Drift summaries on the wire (schemas/fedge.fbs DriftSummary) and in stores: counts on the
// fixed histogram edges, keyed by feature name.

#include <cstdint>
#include <span>
#include <vector>

#include "schemas/fedge_generated.h"
#include "shared/base/status.h"
#include "shared/drift/drift_stats.h"

namespace fedge::drift {

flatbuffers::Offset<wire::DriftSummary> ToWire(flatbuffers::FlatBufferBuilder& fbb,
                                               const Summary& summary);
// InvalidArgument naming the problem for an unknown or repeated feature name, a histogram of
// the wrong size, or an inconsistent summary (see Summary::Validate).
shared::Result<Summary> FromWire(const wire::DriftSummary& summary, size_t max_classes = 1000);

// A summary as a standalone verified FlatBuffer (for the stores) and back.
std::vector<uint8_t> EncodeSummary(const Summary& summary);
// Corruption if the bytes are not a valid summary.
shared::Result<Summary> DecodeSummary(std::span<const uint8_t> bytes);

}  // namespace fedge::drift
