#pragma once
// fedge-sim's release phase ([release] in a scenario; simulations/scenario.h), after the
// training rounds: the whole release pipeline through the production code paths.
//   1. prune the head model (RoundEngine::PruneHeadAndWait), 2. fine-tune it in federated
//   rounds, 3. build the artifact (int8 weights, the version's reference drift profile),
//   4. gate it against the dense model on Fashion-MNIST test images, 5. publish and sign it
//   (TUF-style repository; the simulation holds every key, which a real project keeps offline),
//   6. deploy it to a canary cohort; the coordinator promotes it on the canaries' healthy
//   install reports and evaluation, and every client installs it over mutual TLS;
//   7. optionally a regressed candidate, which the canaries must roll back.
// The report's "release" section has each step with its numbers, the benchmark (artifact bytes
// and validation accuracy, dense fp32 against the release) and the coordinator's rollouts.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/client.h"
#include "coordinator/server.h"
#include "simulations/scenario.h"

namespace fedge::sim {

struct ReleaseRepo {
  std::string keys;  // every role's private keys (a simulation only)
  std::string repo;  // the repository the coordinator serves
  std::string root;  // metadata/1.root.json: the clients' trusted root
};

// Generates the keys and root version 1 under out_dir/release (replacing an earlier run's).
// Call before the coordinator starts: it serves the repository.
shared::Result<ReleaseRepo> PrepareReleaseRepo(const std::string& out_dir);

struct ReleaseEnv {
  const Scenario* scenario = nullptr;
  coordinator::Server* server = nullptr;
  std::vector<client::Client*> clients;  // the answering clients
  ReleaseRepo repo;
  std::string out_dir;
  std::function<size_t()> completed_rounds;  // rounds completed so far (the round callback's)
  bool quiet = false;
};

// Runs steps 1-7. Errors only for failures of the machinery (storage, signing, a timeout);
// a gate refusal or a rollback is a result, recorded in the returned JSON.
shared::Result<nlohmann::json> RunReleasePhase(const ReleaseEnv& env);

}  // namespace fedge::sim
