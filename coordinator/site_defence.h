#pragma once
// Defence tied to site identity ([defence]): robust aggregation outvotes a poisoned update in
// one round; this remembers who sent it. Every training round, each update is scored against
// the round's other updates; a site flagged in too many of the rounds it recently took part in
// is quarantined (no training or evaluation task while it stays connected, told why with a
// typed code) and, if configured, its certificate is revoked.
//
// Scores. Each update's change delta_i = update_i - base is compared with the reference, the
// coordinate-wise median of the round's changes (robust whatever strategy aggregates the
// round): its norm ||delta_i||, its distance ||delta_i - reference|| and its cosine to the
// reference. Each of the three becomes a robust z-score over the round's updates,
// (x_i - median) / (1.4826 x MAD), signed so that larger is more suspicious (a larger norm, a
// larger distance, a smaller cosine); the scale never goes below 5% of the median norm (for
// norms and distances) or 0.05 (cosines), so sites that agree almost exactly do not flag each
// other for rounding. The update's score is the largest z (at least 0); it is flagged, with the
// names of the z-scores above `threshold` as reasons, when its score is above the threshold.
// Everything is computed in double over updates sorted by site id: the same set of updates gives
// the same scores in any arrival order and after a resume.
//
// Standing. A site's standing (records/standing_record.h) keeps its last rounds' scores; it is
// quarantined when it was flagged in `quarantine_after` of the last `window` rounds it took
// part in, and revoked when flagged in `revoke_after` of them. Scores, quarantines and
// revocations are committed with the round's model version, in one synced batch.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/records/standing_record.h"
#include "coordinator/robust_aggregation.h"
#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::coordinator {

struct DefenceSettings {
  bool score = false;        // score every update even with no quarantine or revocation
  double threshold = 5;      // robust z-score above which an update is flagged
  int window = 10;           // the site's most recent rounds that count
  int quarantine_after = 0;  // flagged in this many of them: quarantined (0: never)
  int revoke_after = 0;      // flagged in this many of them: revoked (0: never)
  int min_updates = 5;       // rounds with fewer updates are not scored (too few to compare)
  bool Scoring() const { return score || quarantine_after > 0 || revoke_after > 0; }
};

// The reasons an update can be flagged for, as named in scores, records and metrics.
inline constexpr const char* kFlagNorm = "norm";
inline constexpr const char* kFlagDistance = "distance";
inline constexpr const char* kFlagDirection = "direction";

// Every update's score (sorted by site id); empty when there are fewer than
// settings.min_updates. InvalidArgument for an update whose layout is not the base's.
shared::Result<std::vector<UpdateScore>> ScoreUpdates(const std::vector<SiteUpdate>& updates,
                                                      const shared::TensorBundle& base,
                                                      const DefenceSettings& settings);

// What a round's score does to a site's standing.
struct StandingChange {
  SiteStanding standing;     // the new standing, to store
  bool quarantined = false;  // quarantined by this round
  bool revoke = false;       // to be revoked by this round
};

// `before` (the site's standing, or a fresh one) after `score` in `round`. The history keeps
// the last max(window, 20) scores. A site already quarantined stays so (an admin clears it);
// `revoke` is set once, when the count reaches revoke_after.
StandingChange ApplyScore(const SiteStanding& before, uint64_t round, const UpdateScore& score,
                          const DefenceSettings& settings, uint64_t now_ms);

// How many of the standing's last `window` scores were flagged.
int FlaggedInWindow(const SiteStanding& standing, int window);

// The standing with its quarantine lifted by `admin` (history kept, so the window restarts
// from the clearing round: scores up to `round` no longer count).
SiteStanding ClearQuarantine(SiteStanding standing, const std::string& admin, uint64_t round);

}  // namespace fedge::coordinator
