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
// The attackers are the last ceil(fraction x clients) of the scenario's sites, so the report
// can name them and a paired run without attackers has the same honest sites.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "client/local_data.h"
#include "shared/base/config.h"
#include "shared/base/status.h"
#include "shared/codec/tensor_bundle.h"

namespace fedge::sim {

struct AdversarySettings {
  double fraction = 0;  // of the scenario's sites (0: none)
  std::string kind = "sign_flip";
  double scale = 1;        // sign_flip, scaling
  double noise_std = 0.1;  // noise
  int Count(int clients) const;
  bool Attacker(int site, int clients) const { return site >= clients - Count(clients); }
};

// The [adversary] table (keys fraction, kind, scale, noise_std) and its keys.
shared::Result<AdversarySettings> LoadAdversary(const shared::ConfigFile& file);
std::vector<std::string> AdversaryKeys();

// The malicious trainer of attacker `site` (for kinds that tamper with the update; empty for
// label_flip). Deterministic in `seed` and the number of updates it has sent.
std::function<void(const shared::TensorBundle& base, shared::TensorBundle* trained)> MakeTamper(
    const AdversarySettings& a, uint64_t seed);

// label_flip: `data` with its own copy of the dataset in which the labels of its training
// examples are flipped (its held-out examples keep theirs).
void FlipTrainingLabels(client::LocalData* data);

}  // namespace fedge::sim
