#pragma once
// Simulated drift for camera scenarios: a timeline of events (dusk, fog, a dirty lens, a colour
// cast, sensor noise) that change some clients' camera conditions from a given stream frame on,
// abruptly or along a linear ramp. Read from a scenario's [[drift.events]] tables.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "shared/base/config.h"
#include "shared/base/status.h"
#include "shared/vision/render.h"

namespace fedge::sim {

enum class DriftKind { kDusk, kFog, kDirtyLens, kColorCast, kNoise };

struct DriftEvent {
  DriftKind kind = DriftKind::kDusk;
  std::vector<int> clients;  // client indices 0..clients-1
  uint64_t at_frame = 0;     // stream frame index (per client, from the start of streaming)
                             // where it begins
  bool gradual = false;      // abrupt: full severity at at_frame; gradual: linear ramp over
                             // ramp_frames
  uint64_t ramp_frames = 1000;
  double severity = 1.0;  // 0..1 scales the effect
};

struct DriftTimeline {
  std::vector<DriftEvent> events;  // in file order
  bool Empty() const { return events.empty(); }
};

// Reads [[drift.events]] (keys: kind = "dusk"|"fog"|"dirty_lens"|"color_cast"|"noise" (required),
// clients = [0, 1, 2] (required, non-empty), at_frame (default 0), mode = "abrupt"|"gradual"
// (default "abrupt"), ramp_frames (>= 1, default 1000), severity (default 1)). No events: an
// empty timeline. Unknown keys, unknown kinds/modes, client indices outside [0, clients) and
// severity outside (0, 1] are InvalidArgument naming the file, the element and the key, e.g.
// "s.toml: key 'drift.events[1].kind': ...".
shared::Result<DriftTimeline> LoadDriftTimeline(const shared::ConfigFile& file, int clients);

// The strength (0..1) of `event` at stream frame `frame`: 0 before at_frame; abrupt: severity
// from at_frame on; gradual: severity * min(1, (frame - at_frame + 1) / ramp_frames) (a
// ramp_frames of 0 counts as 1).
double Strength(const DriftEvent& event, uint64_t frame);

// Applies every event of `timeline` that concerns `client` at `frame` to `base` (events compose
// in file order) and returns the conditions for that frame. Events of strength 0 leave the
// conditions bitwise unchanged. At strength s:
//   dusk:       exposure *= (1 - 0.6 s); gamma *= (1 + 0.5 s)
//   fog:        contrast *= (1 - 0.55 s); haze = 1 - (1 - haze) * (1 - 0.5 s)
//   dirty_lens: blur_sigma += 1.8 s; haze = 1 - (1 - haze) * (1 - 0.12 s)
//   color_cast: color_gain[B] *= (1 + 0.35 s), color_gain[R] *= (1 - 0.35 s)  (a blue cast)
//   noise:      noise_std += 22 s
vision::SiteConditions ConditionsAt(const DriftTimeline& timeline, int client, uint64_t frame,
                                    const vision::SiteConditions& base);

// The first frame at which `client` is affected by any event (of severity > 0), if any.
std::optional<uint64_t> DriftOnset(const DriftTimeline& timeline, int client);

// "dusk", "fog", "dirty_lens", "color_cast" or "noise" (the names in scenario files).
std::string_view KindName(DriftKind kind);

}  // namespace fedge::sim
