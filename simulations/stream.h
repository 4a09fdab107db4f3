#pragma once
// The live-stream phase of a camera scenario (Scenario::stream_frames > 0): after the first
// rounds, each client classifies new frames of its site step by step through the production
// path (Client::ObserveFrames: serving model, drift monitor, DriftReports over TLS, frames kept
// in its store), conditions follow the scenario's drift timeline, a simulated reviewer labels a
// budget of frames per step with a delay, and rounds the coordinator starts by itself (drift
// campaigns) run one per step. Afterwards every model version is evaluated on per-client
// held-out items rendered under the site's clean and drifted conditions (the same items and
// jitter, so the comparison is paired).

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/client.h"
#include "coordinator/server.h"
#include "shared/ml/data/dataset.h"
#include "shared/ml/torch/model.h"
#include "simulations/scenario.h"

namespace fedge::sim {

struct StreamSite {
  std::string id;                     // client id
  client::Client* client = nullptr;   // its store receives labels
  std::vector<int64_t> stream_items;  // indices into the training split, streamed in order
  std::vector<int64_t> eval_items;    // held out for the paired evaluation
};

struct StreamEnv {
  const Scenario* scenario = nullptr;
  const ml::Dataset* train = nullptr;  // Fashion-MNIST training split (normalised)
  coordinator::Server* server = nullptr;
  std::function<size_t()> completed_rounds;  // rounds finished so far (thread-safe)
  bool quiet = false;
};

// The stored model `version` of `store`, loaded.
shared::Result<ml::Model> LoadVersion(coordinator::Store& store, uint64_t version);

// Runs the stream phase; returns report.json's "stream" section. REQUIRES: the first rounds
// are done (the engine is idle).
shared::Result<nlohmann::json> RunStream(const StreamEnv& env, std::vector<StreamSite>& sites);

// Evaluates every model version in `versions` on each site's paired sets; returns the
// "paired" section (per client, per version: clean and drifted accuracy) and summary figures.
shared::Result<nlohmann::json> EvaluatePaired(const StreamEnv& env,
                                              const std::vector<StreamSite>& sites,
                                              const std::vector<uint64_t>& versions,
                                              uint64_t pre_drift_version);

}  // namespace fedge::sim
