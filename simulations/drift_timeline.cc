#include "simulations/drift_timeline.h"

#include <algorithm>
#include <array>
#include <limits>
#include <sstream>
#include <string>
#include <utility>

namespace fedge::sim {
namespace {

using shared::ConfigFile;
using shared::Status;

// How strongly each kind of drift changes the camera conditions at strength 1 (the effects
// scale linearly with strength). Chosen so that full-strength drift is plainly visible to a
// person and to the drift statistics, while items remain recognisable.
constexpr double kDuskExposureDrop = 0.6;  // exposure *= 1 - 0.6 s
constexpr double kDuskGammaRise = 0.5;     // gamma *= 1 + 0.5 s (darker mid-tones)
constexpr double kFogContrastDrop = 0.55;  // contrast *= 1 - 0.55 s
constexpr double kFogHaze = 0.5;           // veil added by fog
constexpr double kLensBlurSigma = 1.8;     // blur sigma (pixels) added by a dirty lens
constexpr double kLensHaze = 0.12;         // faint veil of a dirty lens
constexpr double kCastGain = 0.35;         // blue gain up, red gain down by this fraction
constexpr double kNoiseStd = 22.0;         // sensor noise std (0..255 units) added

constexpr std::string_view kEventsKey = "drift.events";
constexpr std::array<std::pair<std::string_view, DriftKind>, 5> kKinds{{
    {"dusk", DriftKind::kDusk},
    {"fog", DriftKind::kFog},
    {"dirty_lens", DriftKind::kDirtyLens},
    {"color_cast", DriftKind::kColorCast},
    {"noise", DriftKind::kNoise},
}};

// The error format of ConfigFile for key `key` of element `index` of [[drift.events]].
Status ElementError(const ConfigFile& file, size_t index, const std::string& key,
                    const std::string& what) {
  return Status::InvalidArgument(file.path() + ": key '" + std::string(kEventsKey) + "[" +
                                 std::to_string(index) + "]." + key + "': " + what);
}

shared::Result<DriftEvent> ParseEvent(const ConfigFile& file, size_t index,
                                      const ConfigFile& element, int clients) {
  FEDGE_RETURN_IF_ERROR(
      element.CheckKnownKeys({"kind", "clients", "at_frame", "mode", "ramp_frames", "severity"}));
  DriftEvent event;
  FEDGE_ASSIGN_OR_RETURN(std::string kind, element.String("kind"));
  const auto found =
      std::find_if(kKinds.begin(), kKinds.end(), [&](const auto& k) { return k.first == kind; });
  if (found == kKinds.end()) {
    return ElementError(file, index, "kind",
                        "must be dusk, fog, dirty_lens, color_cast or noise, got '" + kind + "'");
  }
  event.kind = found->second;
  FEDGE_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                         element.IntList("clients", std::nullopt, 0, clients - 1));
  if (ids.empty()) return ElementError(file, index, "clients", "must name at least one client");
  event.clients.assign(ids.begin(), ids.end());
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  FEDGE_ASSIGN_OR_RETURN(int64_t at_frame, element.Int("at_frame", 0, 0, kMax));
  event.at_frame = static_cast<uint64_t>(at_frame);
  FEDGE_ASSIGN_OR_RETURN(std::string mode, element.String("mode", "abrupt"));
  if (mode != "abrupt" && mode != "gradual") {
    return ElementError(file, index, "mode", "must be abrupt or gradual, got '" + mode + "'");
  }
  event.gradual = mode == "gradual";
  FEDGE_ASSIGN_OR_RETURN(int64_t ramp, element.Int("ramp_frames", 1000, 1, kMax));
  event.ramp_frames = static_cast<uint64_t>(ramp);
  constexpr double kHuge = std::numeric_limits<double>::max();
  FEDGE_ASSIGN_OR_RETURN(event.severity, element.Double("severity", 1.0, -kHuge, kHuge));
  if (!(event.severity > 0 && event.severity <= 1)) {
    std::ostringstream os;
    os << "must be greater than 0 and at most 1, got " << event.severity;
    return ElementError(file, index, "severity", os.str());
  }
  return event;
}

// Applies one event at strength s (> 0) to c.
void Apply(DriftKind kind, double s, vision::SiteConditions& c) {
  switch (kind) {
    case DriftKind::kDusk:
      c.exposure *= 1 - kDuskExposureDrop * s;
      c.gamma *= 1 + kDuskGammaRise * s;
      break;
    case DriftKind::kFog:
      c.contrast *= 1 - kFogContrastDrop * s;
      c.haze = 1 - (1 - c.haze) * (1 - kFogHaze * s);
      break;
    case DriftKind::kDirtyLens:
      c.blur_sigma += kLensBlurSigma * s;
      c.haze = 1 - (1 - c.haze) * (1 - kLensHaze * s);
      break;
    case DriftKind::kColorCast:
      c.color_gain[0] *= 1 + kCastGain * s;  // B
      c.color_gain[2] *= 1 - kCastGain * s;  // R
      break;
    case DriftKind::kNoise:
      c.noise_std += kNoiseStd * s;
      break;
  }
}

bool Concerns(const DriftEvent& event, int client) {
  return std::find(event.clients.begin(), event.clients.end(), client) != event.clients.end();
}

}  // namespace

shared::Result<DriftTimeline> LoadDriftTimeline(const ConfigFile& file, int clients) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<ConfigFile> elements, file.Tables(std::string(kEventsKey)));
  DriftTimeline timeline;
  for (size_t i = 0; i < elements.size(); ++i) {
    FEDGE_ASSIGN_OR_RETURN(DriftEvent event, ParseEvent(file, i, elements[i], clients));
    timeline.events.push_back(std::move(event));
  }
  return timeline;
}

double Strength(const DriftEvent& event, uint64_t frame) {
  if (frame < event.at_frame) return 0;
  if (!event.gradual) return event.severity;
  const double ramp = static_cast<double>(std::max<uint64_t>(event.ramp_frames, 1));
  const double done = static_cast<double>(frame - event.at_frame) + 1;
  return event.severity * std::min(1.0, done / ramp);
}

vision::SiteConditions ConditionsAt(const DriftTimeline& timeline, int client, uint64_t frame,
                                    const vision::SiteConditions& base) {
  vision::SiteConditions c = base;
  for (const DriftEvent& event : timeline.events) {
    if (!Concerns(event, client)) continue;
    const double s = Strength(event, frame);
    if (s > 0) Apply(event.kind, s, c);
  }
  return c;
}

std::optional<uint64_t> DriftOnset(const DriftTimeline& timeline, int client) {
  std::optional<uint64_t> onset;
  for (const DriftEvent& event : timeline.events) {
    if (!(event.severity > 0) || !Concerns(event, client)) continue;
    if (!onset || event.at_frame < *onset) onset = event.at_frame;
  }
  return onset;
}

std::string_view KindName(DriftKind kind) {
  for (const auto& [name, k] : kKinds) {
    if (k == kind) return name;
  }
  return "unknown";
}

}  // namespace fedge::sim
