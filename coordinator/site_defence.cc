#include "coordinator/site_defence.h"

#include <algorithm>
#include <cmath>

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {

// (x - median) / scale per value, scale = max(1.4826 x MAD, floor).
std::vector<double> RobustZ(const std::vector<double>& x, double floor) {
  const double median = MedianOf(x);
  std::vector<double> dev;
  dev.reserve(x.size());
  for (double v : x) dev.push_back(std::abs(v - median));
  const double scale = std::max(1.4826 * MedianOf(dev), floor);
  std::vector<double> z;
  z.reserve(x.size());
  for (double v : x) z.push_back((v - median) / scale);
  return z;
}

}  // namespace

Result<std::vector<UpdateScore>> ScoreUpdates(const std::vector<SiteUpdate>& updates,
                                              const shared::TensorBundle& base,
                                              const DefenceSettings& settings) {
  std::vector<UpdateScore> scores;
  const size_t n = updates.size();
  if (n == 0 || static_cast<int>(n) < settings.min_updates) return scores;
  std::vector<const SiteUpdate*> sorted;
  for (const SiteUpdate& u : updates) {
    if (!u.values.SameLayout(base)) {
      return Status::InvalidArgument("the update of " + u.client_id +
                                     " does not have the model's tensors");
    }
    sorted.push_back(&u);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const SiteUpdate* a, const SiteUpdate* b) { return a->client_id < b->client_id; });
  // One pass over the coordinates: the reference (the coordinate-wise median change) and, per
  // update, the sums its norm, distance and cosine need.
  std::vector<double> norm2(n, 0), dist2(n, 0), dot(n, 0);
  double ref2 = 0;
  std::vector<double> column(n);
  for (size_t t = 0; t < base.tensors.size(); ++t) {
    const std::vector<float>& b = base.tensors[t].data;
    for (size_t k = 0; k < b.size(); ++k) {
      for (size_t i = 0; i < n; ++i) {
        column[i] = static_cast<double>(sorted[i]->values.tensors[t].data[k]) - b[k];
      }
      std::vector<double> scratch = column;
      const double ref = MedianOf(std::move(scratch));
      ref2 += ref * ref;
      for (size_t i = 0; i < n; ++i) {
        norm2[i] += column[i] * column[i];
        const double d = column[i] - ref;
        dist2[i] += d * d;
        dot[i] += column[i] * ref;
      }
    }
  }
  std::vector<double> norm(n), dist(n), cosine(n);
  for (size_t i = 0; i < n; ++i) {
    norm[i] = std::sqrt(norm2[i]);
    dist[i] = std::sqrt(dist2[i]);
    const double denom = norm[i] * std::sqrt(ref2);
    cosine[i] = denom > 0 ? dot[i] / denom : 0.0;
  }
  const std::vector<double> z_norm = RobustZ(norm, 0.05 * MedianOf(norm) + 1e-12);
  // Distances are in the units of the norms: the same floor.
  const std::vector<double> z_dist = RobustZ(dist, 0.05 * MedianOf(norm) + 1e-12);
  std::vector<double> neg_cos(n);
  for (size_t i = 0; i < n; ++i) neg_cos[i] = -cosine[i];
  const std::vector<double> z_dir = RobustZ(neg_cos, 0.05);
  for (size_t i = 0; i < n; ++i) {
    UpdateScore s;
    s.client_id = sorted[i]->client_id;
    s.norm = norm[i];
    s.distance = dist[i];
    s.cosine = cosine[i];
    s.z_norm = z_norm[i];
    s.z_distance = z_dist[i];
    s.z_direction = z_dir[i];
    s.score = std::max({0.0, s.z_norm, s.z_distance, s.z_direction});
    if (s.z_norm > settings.threshold) s.reasons.push_back(kFlagNorm);
    if (s.z_distance > settings.threshold) s.reasons.push_back(kFlagDistance);
    if (s.z_direction > settings.threshold) s.reasons.push_back(kFlagDirection);
    scores.push_back(std::move(s));
  }
  return scores;
}

int FlaggedInWindow(const SiteStanding& standing, int window) {
  int flagged = 0, seen = 0;
  for (auto it = standing.scores.rbegin(); it != standing.scores.rend() && seen < window;
       ++it, ++seen) {
    if (it->round <= standing.cleared_round) break;  // before an admin cleared it
    if (it->flagged()) ++flagged;
  }
  return flagged;
}

StandingChange ApplyScore(const SiteStanding& before, uint64_t round, const UpdateScore& score,
                          const DefenceSettings& settings, uint64_t now_ms) {
  StandingChange change;
  SiteStanding& s = change.standing;
  s = before;
  s.client_id = score.client_id;
  // A resumed round scores the same updates again: replace, never count a round twice.
  std::erase_if(s.scores, [round](const UpdateScore& u) { return u.round == round; });
  UpdateScore entry = score;
  entry.round = round;
  s.scores.push_back(std::move(entry));
  const size_t keep = static_cast<size_t>(std::max(settings.window, 20));
  if (s.scores.size() > keep) s.scores.erase(s.scores.begin(), s.scores.end() - keep);
  const int flagged = FlaggedInWindow(s, settings.window);
  if (!s.quarantined && settings.quarantine_after > 0 && flagged >= settings.quarantine_after) {
    s.quarantined = true;
    s.quarantined_round = round;
    s.quarantined_ms = now_ms;
    std::string reasons;
    for (const std::string& r : score.reasons) reasons += (reasons.empty() ? "" : ", ") + r;
    s.quarantine_reason =
        "its update was flagged in " + std::to_string(flagged) + " of its last " +
        std::to_string(std::min<size_t>(settings.window, s.scores.size())) +
        " rounds (defence.quarantine_after = " + std::to_string(settings.quarantine_after) +
        "; round " + std::to_string(round) + ": " + (reasons.empty() ? "-" : reasons) + ")";
    change.quarantined = true;
  }
  if (s.revoked_round == 0 && settings.revoke_after > 0 && flagged >= settings.revoke_after) {
    s.revoked_round = round;
    change.revoke = true;
  }
  return change;
}

SiteStanding ClearQuarantine(SiteStanding standing, const std::string& admin, uint64_t round) {
  standing.quarantined = false;
  standing.quarantine_reason.clear();
  standing.quarantined_round = 0;
  standing.quarantined_ms = 0;
  standing.cleared_round = round;
  standing.cleared_by = admin;
  return standing;
}

}  // namespace fedge::coordinator
