#pragma once
// fedge-sim's attackers ([adversary]): some of the simulated sites are real fedge clients over
// mTLS whose trainer is malicious, to measure what an aggregation strategy withstands.
//
//   sign_flip   sends base - scale * change (Blades' sign flip with scale 1)
//   scaling     sends base + scale * change (a model-replacement boost)
//   noise       sends base + Gaussian noise of std noise_std on every value (its training is
//               thrown away)
//   label_flip  trains honestly on its share with every label y replaced by C - 1 - y (data
//               poisoning through the real training path)
//
//   broken_camera  not an attacker but a broken site: its camera sends black frames (a dead
//               sensor, a covered lens) or, with camera_fault = "frozen", its first frame over
//               and over; its reviewer still labels what was in front of it. Camera scenarios.
//
// Colluding attacks (Collusion below): every attacker trains honestly first; the attackers pool
// those benign changes of the round (the threat model of the papers' "partial knowledge"
// setting: they know their own updates, not the honest sites') and all send one crafted update:
//   alie        mean - z x std per coordinate (Baruch et al. 2019, "A Little Is Enough"); z from
//               the paper: s = floor(n / 2 + 1) - f, z = Phi^-1((n - s) / n) for n sites of
//               which f attack, unless `z` is set
//   ipm         -epsilon x mean (Xie et al. 2020, inner-product manipulation); epsilon = scale
//   min_max     mean + gamma x (-std), gamma the largest keeping its distance to every pooled
//               update within the pool's largest pairwise distance (Shejwalkar and Houmansadr
//               2021, AGR-agnostic min-max)
// std is the sample standard deviation (n - 1), as torch.std in the reference implementations.
//
// The attackers are the last ceil(fraction x clients) of the scenario's sites, so the report
// can name them and a paired run without attackers has the same honest sites.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/local_data.h"
#include "shared/base/config.h"
#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/vision/render.h"

namespace fedge::sim {

struct AdversarySettings {
  double fraction = 0;  // of the scenario's sites (0: none)
  std::string kind = "sign_flip";
  double scale = 1;                    // sign_flip, scaling
  double noise_std = 0.1;              // noise
  double z = 0;                        // alie (0: the paper's z for the scenario's n and f)
  std::string camera_fault = "black";  // broken_camera: "black" or "frozen"
  // fedge-sim runs the scenario a second time first with these sites honest (same seeds) and
  // reports both accuracies per round (report.json rounds[].accuracy_without_attackers).
  bool paired = false;
  int Count(int clients) const;
  // alie, ipm, min_max: the attackers pool their benign updates (Collusion).
  bool Colluding() const { return kind == "alie" || kind == "ipm" || kind == "min_max"; }
  bool Attacker(int site, int clients) const { return site >= clients - Count(clients); }
};

// The [adversary] table (keys fraction, kind, scale, noise_std, z, camera_fault, paired) and its
// keys.
shared::Result<AdversarySettings> LoadAdversary(const shared::ConfigFile& file);
std::vector<std::string> AdversaryKeys();

// The malicious trainer of attacker `site` (for kinds that tamper with the update alone; empty
// for label_flip and the colluding kinds). Deterministic in `seed` and the number of updates it has
// sent.
std::function<void(const shared::TensorBundle& base, shared::TensorBundle* trained)> MakeTamper(
    const AdversarySettings& a, uint64_t seed);

// ALIE's z_max (Baruch et al. 2019) for n sites of which f attack: s = floor(n / 2 + 1) - f,
// z = Phi^-1((n - s) / n). REQUIRES: 0 < f < n.
double AlieZ(int n, int f);

// The colluding attacks' crafted update from the pooled benign models `benign` (each a full
// model trained from `base`; at least one), as a full model: base + the crafted change.
shared::TensorBundle CraftAlie(const std::vector<const shared::TensorBundle*>& benign,
                               const shared::TensorBundle& base, double z);
shared::TensorBundle CraftIpm(const std::vector<const shared::TensorBundle*>& benign,
                              const shared::TensorBundle& base, double epsilon);
shared::TensorBundle CraftMinMax(const std::vector<const shared::TensorBundle*>& benign,
                                 const shared::TensorBundle& base);

// The attackers of a colluding attack: each one's tamper hook posts its benign update of the
// round (keyed by the round's model) and waits until every member has posted (or `wait` has
// passed: a member that was not sampled), then replaces it by the crafted update of the pool,
// sorted by member, so every member sends the same bytes. Thread-safe; the members must train
// on different threads (each its own compute pool), since each waits for the others.
class Collusion {
 public:
  Collusion(AdversarySettings settings, std::vector<std::string> members, int clients,
            std::chrono::milliseconds wait);
  std::function<void(const shared::TensorBundle& base, shared::TensorBundle* trained)> TamperFor(
      std::string member);

 private:
  void Tamper(const std::string& member, const shared::TensorBundle& base,
              shared::TensorBundle* trained);
  shared::TensorBundle Craft(const std::vector<const shared::TensorBundle*>& benign,
                             const shared::TensorBundle& base) const;

  struct Pool {
    std::map<std::string, shared::TensorBundle> benign;  // by member
    size_t crafted = 0;                                  // members that took the result
  };
  const AdversarySettings settings_;
  const std::vector<std::string> members_;
  const int clients_;
  const std::chrono::milliseconds wait_;
  std::mutex mu_;
  std::condition_variable posted_;
  std::map<uint64_t, Pool> pools_;  // by a hash of the round's model
};

// The colluding attackers among `client_ids` (the first `clients` are the scenario's sites),
// waiting up to 60 s for each other; null unless the attack colludes and someone attacks.
std::shared_ptr<Collusion> MakeCollusion(const AdversarySettings& a,
                                         const std::vector<std::string>& client_ids, int clients);

// broken_camera: how site `site`'s camera is broken (kNone for every other site and attack).
vision::SiteConditions::Fault CameraFault(const AdversarySettings& a, int site, int clients);

// label_flip: `data` with its own copy of the dataset in which the labels of its training
// examples are flipped (its held-out examples keep theirs).
void FlipTrainingLabels(client::LocalData* data);

}  // namespace fedge::sim
