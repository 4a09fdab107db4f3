#include "shared/drift/drift_wire.h"

#include <string>

#include "shared/net/wire_text.h"

namespace fedge::drift {

using shared::Result;
using shared::Status;

flatbuffers::Offset<wire::DriftSummary> ToWire(flatbuffers::FlatBufferBuilder& fbb,
                                               const Summary& summary) {
  std::vector<flatbuffers::Offset<wire::FeatureHistogram>> hists;
  for (int f = 0; f < kNumFeatures; ++f) {
    const std::vector<uint64_t>& h = summary.hist[static_cast<size_t>(f)];
    if (h.empty()) continue;
    auto name = fbb.CreateString(std::string(FeatureName(static_cast<Feature>(f))));
    hists.push_back(wire::CreateFeatureHistogram(fbb, name, fbb.CreateVector(h),
                                                 summary.sum[static_cast<size_t>(f)]));
  }
  auto hv = fbb.CreateVector(hists);
  auto classes = fbb.CreateVector(summary.classes);
  return wire::CreateDriftSummary(fbb, summary.frames, summary.outputs, hv, classes);
}

Result<Summary> FromWire(const wire::DriftSummary& in, size_t max_classes) {
  Summary s;
  s.frames = in.frames();
  s.outputs = in.outputs();
  if (in.histograms() != nullptr) {
    for (const wire::FeatureHistogram* h : *in.histograms()) {
      if (h->feature()->size() > 64) {
        return Status::InvalidArgument("drift summary: a feature name of " +
                                       std::to_string(h->feature()->size()) + " bytes");
      }
      std::string name = h->feature()->str();
      std::optional<Feature> f = FeatureFromName(name);
      if (!f) return Status::InvalidArgument("drift summary: unknown feature '" + name + "'");
      std::vector<uint64_t>& dst = s.hist[static_cast<size_t>(*f)];
      if (!dst.empty()) {
        return Status::InvalidArgument("drift summary: feature '" + name + "' appears twice");
      }
      if (h->counts()->size() != static_cast<size_t>(kBins)) {
        return Status::InvalidArgument("drift summary: feature '" + name + "' has " +
                                       std::to_string(h->counts()->size()) + " bins, expected " +
                                       std::to_string(kBins));
      }
      FEDGE_ASSIGN_OR_RETURN(dst, shared::WireScalars(h->counts(), kBins, "drift summary counts"));
      s.sum[static_cast<size_t>(*f)] = h->sum();
    }
  }
  if (in.classes() != nullptr) {
    if (in.classes()->size() > max_classes) {
      return Status::InvalidArgument("drift summary: " + std::to_string(in.classes()->size()) +
                                     " classes, at most " + std::to_string(max_classes));
    }
    FEDGE_ASSIGN_OR_RETURN(s.classes,
                           shared::WireScalars(in.classes(), max_classes, "drift summary classes"));
  }
  FEDGE_RETURN_IF_ERROR(s.Validate(uint64_t{1} << 30, max_classes));
  return s;
}

std::vector<uint8_t> EncodeSummary(const Summary& summary) {
  flatbuffers::FlatBufferBuilder fbb(1024);
  fbb.Finish(ToWire(fbb, summary));
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

Result<Summary> DecodeSummary(std::span<const uint8_t> bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!verifier.VerifyBuffer<wire::DriftSummary>(nullptr)) {
    return Status::Corruption("stored drift summary does not verify");
  }
  Result<Summary> s = FromWire(*flatbuffers::GetRoot<wire::DriftSummary>(bytes.data()));
  if (!s.ok()) return Status::Corruption("stored " + s.status().message());
  return s;
}

}  // namespace fedge::drift
