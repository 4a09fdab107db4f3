#include "simulations/release_phase.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "coordinator/drift_policy.h"
#include "coordinator/ml_backend.h"
#include "coordinator/release_create.h"
#include "coordinator/release_tools.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/data/dataset.h"
#include "shared/ml/weights/artifact.h"
#include "shared/ml/weights/prune.h"
#include "shared/release/repository.h"
#include "simulations/timing.h"

namespace fedge::sim {

namespace fs = std::filesystem;
namespace rel = shared::release;
using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

Result<coordinator::ExportedModel> FromStore(coordinator::Store& store, uint64_t version) {
  coordinator::ExportedModel m;
  FEDGE_ASSIGN_OR_RETURN(m.record, store.GetModel(version));
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(m.record.digest_hex));
  FEDGE_ASSIGN_OR_RETURN(m.blob, store.GetBlob(digest));
  return m;
}

class Phase {
 public:
  explicit Phase(const ReleaseEnv& env)
      : env_(env), r_(env.scenario->release), server_(*env.server), store_(server_.store()) {}

  Result<json> Run() {
    const auto t0 = Clock::now();
    FEDGE_ASSIGN_OR_RETURN(ml::Dataset test,
                           ml::LoadFashionMnist(env_.scenario->data_dir, ml::Split::kTest));
    val_ = std::move(test);
    FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> head, store_.Head());
    if (!head) return Status::Internal("the registry has no head model");
    FEDGE_RETURN_IF_ERROR(MeasureDense(*head));
    FEDGE_ASSIGN_OR_RETURN(uint64_t candidate_version, PruneAndFineTune(*head));
    FEDGE_ASSIGN_OR_RETURN(coordinator::ExportedModel candidate,
                           FromStore(store_, candidate_version));
    FEDGE_ASSIGN_OR_RETURN(std::string good, Release(candidate, /*gate=*/true, "release"));
    json out = {{"steps", steps_}, {"result", "gate refused"}};
    if (!good.empty()) {
      FEDGE_ASSIGN_OR_RETURN(std::string state, Deploy(good));
      out["result"] = state;
      if (state == "promoted" && r_.regress_prune > 0) {
        FEDGE_ASSIGN_OR_RETURN(out["regressed_result"], Regress(candidate, good));
      }
    }
    out["steps"] = steps_;
    out["benchmark"] = benchmark_;
    out["rollouts"] = server_.rollouts().List()["rollouts"];
    out["seconds"] = Seconds(t0);
    return out;
  }

 private:
  // The head model `head` (dense): its accuracy and the size of its fp32 artifact, what a
  // release without pruning and int8 would ship.
  Status MeasureDense(uint64_t head) {
    FEDGE_ASSIGN_OR_RETURN(coordinator::ExportedModel dense, FromStore(store_, head));
    FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle dense_state, shared::DecodeBundle(dense.blob));
    FEDGE_ASSIGN_OR_RETURN(dense_acc_, Accuracy(dense.record.arch, dense_state));
    coordinator::BuildOptions dense_options;
    dense_options.counter = 1;
    dense_options.now = rel::SystemNow();
    FEDGE_ASSIGN_OR_RETURN(ml::Artifact dense_artifact,
                           coordinator::BuildArtifact(dense, {}, dense_options));
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> dense_bytes, ml::EncodeArtifact(dense_artifact));
    dense_bytes_ = dense_bytes.size();
    Step("dense model", {{"version", dense.record.version},
                         {"arch", dense.record.arch},
                         {"parameters", dense_state.NumElements()},
                         {"validation_accuracy", dense_acc_},
                         {"fp32_artifact_bytes", dense_bytes_}});
    return Status::Ok();
  }

  // Steps 1-2 when the scenario prunes: the registry version the release is built from.
  Result<uint64_t> PruneAndFineTune(uint64_t head) {
    if (r_.prune <= 0) return head;
    const auto t = Clock::now();
    coordinator::PruneRequest request;
    request.version = head;
    request.fraction = r_.prune;
    request.prune_hidden = r_.prune_hidden;
    FEDGE_ASSIGN_OR_RETURN(coordinator::ModelRecord pruned,
                           server_.engine().PruneHeadAndWait(request));
    FEDGE_ASSIGN_OR_RETURN(coordinator::ExportedModel pm, FromStore(store_, pruned.version));
    FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle ps, shared::DecodeBundle(pm.blob));
    FEDGE_ASSIGN_OR_RETURN(double acc, Accuracy(pruned.arch, ps));
    Step("prune", {{"from_version", head},
                   {"version", pruned.version},
                   {"arch", pruned.arch},
                   {"fraction", r_.prune},
                   {"parameters", ps.NumElements()},
                   {"validation_accuracy", acc},
                   {"seconds", Seconds(t)}});
    if (r_.finetune_rounds <= 0) return pruned.version;
    return FineTune();
  }

  // Federated fine-tuning rounds on the pruned head: the tuned head version.
  Result<uint64_t> FineTune() {
    const auto tf = Clock::now();
    const size_t before = env_.completed_rounds();
    server_.engine().StartRounds(static_cast<uint64_t>(r_.finetune_rounds), [](uint64_t) {});
    const auto limit = std::chrono::seconds(static_cast<int64_t>(r_.finetune_rounds) *
                                                (env_.scenario->round_timeout_seconds * 2 + 60) +
                                            60);
    const bool done = WaitFor(
        [&] { return env_.completed_rounds() >= before + static_cast<size_t>(r_.finetune_rounds); },
        limit);
    if (!done) return Status::DeadlineExceeded("federated fine-tuning rounds did not finish");
    FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> tuned, store_.Head());
    FEDGE_ASSIGN_OR_RETURN(coordinator::ExportedModel tm, FromStore(store_, *tuned));
    FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle ts, shared::DecodeBundle(tm.blob));
    FEDGE_ASSIGN_OR_RETURN(double tacc, Accuracy(tm.record.arch, ts));
    Step("federated fine-tuning", {{"rounds", r_.finetune_rounds},
                                   {"version", *tuned},
                                   {"arch", tm.record.arch},
                                   {"validation_accuracy", tacc},
                                   {"seconds", Seconds(tf)}});
    return *tuned;
  }

  // Step 7, an operator's mistake: `candidate` pruned once more, not fine-tuned, not gated,
  // released and deployed; the canaries must roll it back to `good`. Its rollout's state.
  Result<std::string> Regress(const coordinator::ExportedModel& candidate,
                              const std::string& good) {
    FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle cs, shared::DecodeBundle(candidate.blob));
    FEDGE_ASSIGN_OR_RETURN(
        ml::Pruned worse,
        ml::PruneChannels(candidate.record.arch, cs, {r_.regress_prune, r_.prune_hidden}));
    coordinator::ExportedModel bad = candidate;
    bad.record.arch = worse.arch;
    FEDGE_ASSIGN_OR_RETURN(bad.blob, shared::EncodeBundle(worse.state));
    bad.record.metrics["prune"] = {{"method", "l1_channels"},
                                   {"fraction", r_.regress_prune},
                                   {"hidden", r_.prune_hidden},
                                   {"from", candidate.record.version},
                                   {"fine_tune_rounds", uint64_t{0}}};  // its recipe
    bad.record.digest_hex = shared::ToHex(shared::Sha256(bad.blob));
    bad.record.size_bytes = bad.blob.size();
    FEDGE_ASSIGN_OR_RETURN(std::string bad_name, Release(bad, /*gate=*/false, "regressed"));
    FEDGE_ASSIGN_OR_RETURN(std::string bad_state, Deploy(bad_name));
    // The canaries return to the good release, and the coordinator has their reports saying so
    // (a client switches its slot before its report arrives).
    auto reported_back = [&] {
      for (const json& x : server_.rollouts().List()["rollouts"]) {
        if (x["target"] != bad_name) continue;
        for (const auto& [client, report] : x["reports"].items()) {
          if (report.value("active_target", "") != good) return false;
        }
      }
      return true;
    };
    const bool back =
        WaitFor([&] { return AllServe(good) && reported_back(); }, std::chrono::seconds(120));
    Step("after rollback", {{"all_clients_on", back ? good : "(not all)"}});
    return bad_state;
  }

  Result<double> Accuracy(const std::string& arch, const shared::TensorBundle& state) {
    return coordinator::ValidationAccuracy(arch, state, val_, r_.validation_examples);
  }

  void Step(const std::string& name, json detail) {
    detail["step"] = name;
    if (!env_.quiet) {
      std::printf("release: %-22s %s\n", name.c_str(), detail.dump().c_str());
      std::fflush(stdout);
    }
    steps_.push_back(std::move(detail));
  }

  // The reference drift profile the coordinator stored for registry version `version`; empty
  // if there is none (or it cannot be read).
  std::vector<uint8_t> Profile(uint64_t version) {
    auto p = store_.ReferenceProfile(version);
    return p.ok() && p->has_value() ? **p : std::vector<uint8_t>();
  }

  // Builds, gates (when `gate`; else measures only), writes and publishes a release of `model`
  // (coordinator::CreateRelease) and signs it; its target name, or "" when the gate refused it.
  Result<std::string> Release(const coordinator::ExportedModel& model, bool gate,
                              const std::string& label) {
    const auto t = Clock::now();
    coordinator::CreateReleaseOptions o;
    o.build.quantization = r_.quantize == "int8" ? "int8_per_channel" : r_.quantize;
    o.build.model_id = "fedge-sim";
    o.build.now = rel::SystemNow();
    o.repo = env_.repo.repo;
    o.out = env_.out_dir + "/release/" + label + ".fdga";
    o.publish = true;
    o.gate.mode = gate ? coordinator::GateMode::kEnforce : coordinator::GateMode::kReport;
    o.gate.max_drop_points = r_.gate_max_drop;
    o.gate.reference_accuracy = dense_acc_;
    o.gate.record_accuracy = false;
    // The recipe (pruning, federated fine-tuning rounds) comes from the registry record.
    FEDGE_ASSIGN_OR_RETURN(
        coordinator::CreatedRelease r,
        coordinator::CreateRelease(model, Profile(model.record.version), o,
                                   [this](const std::string& arch, const shared::TensorBundle& s) {
                                     return Accuracy(arch, s);
                                   }));
    json detail = ReleaseDetail(r, gate);
    if (label == "release") Benchmark(r);
    if (r.refused) {
      if (r.verdict.code() != shared::Code::kPermissionDenied) return r.verdict;
      Step(label + " gate refused", detail);
      return std::string();
    }
    for (rel::Role role : {rel::Role::kTargets, rel::Role::kSnapshot, rel::Role::kTimestamp}) {
      FEDGE_RETURN_IF_ERROR(coordinator::SignRole(env_.repo.repo, env_.repo.keys, role).status());
    }
    detail["target"] = r.published->name;
    detail["release_counter"] = r.published->release_counter;
    detail["sha256"] = shared::ToHex(r.published->sha256);
    detail["seconds"] = Seconds(t);
    Step(label + " signed", detail);
    return r.published->name;
  }

  json ReleaseDetail(const coordinator::CreatedRelease& r, bool gate) const {
    return {{"arch", r.arch},
            {"quantization", r.recipe.quantization},
            {"fine_tuning", r.recipe.fine_tuning},
            {"artifact_bytes", r.bytes.size()},
            {"validation_accuracy", *r.candidate_accuracy},
            {"dense_validation_accuracy", dense_acc_},
            {"gate", gate ? r.gate_line : "skipped (" + r.gate_line + ")"}};
  }

  // The report's benchmark: the dense fp32 artifact against the release.
  void Benchmark(const coordinator::CreatedRelease& r) {
    const double acc = *r.candidate_accuracy;
    benchmark_ = {{"dense_fp32_artifact_bytes", dense_bytes_},
                  {"release_artifact_bytes", r.bytes.size()},
                  {"size_ratio", static_cast<double>(dense_bytes_) / r.bytes.size()},
                  {"dense_validation_accuracy", dense_acc_},
                  {"release_validation_accuracy", acc},
                  {"accuracy_drop_points", 100.0 * (dense_acc_ - acc)},
                  {"validation_examples", r_.validation_examples}};
  }

  bool AllServe(const std::string& target) const {
    for (client::Client* c : env_.clients) {
      if (c->serving_release().first != target) return false;
    }
    return true;
  }

  // Deploys `target` to the canary cohort and waits for the coordinator's decision, then (if
  // promoted) for every client to serve it. Returns the rollout's final state.
  Result<std::string> Deploy(const std::string& target) {
    const auto t = Clock::now();
    FEDGE_ASSIGN_OR_RETURN(json rollout, server_.rollouts().Deploy(target, r_.canary_percent));
    const uint64_t id = rollout["id"];
    Step("canary " + target, {{"rollout", id}, {"cohort", rollout["cohort"]}});
    auto find = [&]() {
      const json list = server_.rollouts().List();  // named: the loop reads into it
      for (const json& x : list["rollouts"]) {
        if (x["id"] == id) return x;
      }
      return json();
    };
    const bool decided = WaitFor([&] { return find()["state"] != "canary"; },
                                 std::chrono::seconds(r_.canary_timeout_seconds + 60));
    json now = find();
    if (!decided || now.is_null()) {
      return Status::DeadlineExceeded("rollout of " + target + " was not decided");
    }
    json detail = {{"rollout", id},
                   {"state", now["state"]},
                   {"reason", now["steps"].back()["detail"]},
                   {"canary_evaluation", now["canary_evaluation"]},
                   {"seconds", Seconds(t)}};
    if (now["state"] == "promoted") {
      const auto tp = Clock::now();
      const bool everyone = WaitFor([&] { return AllServe(target); }, std::chrono::seconds(300));
      int installed = 0;
      const json reports = find()["reports"];
      for (const auto& [client, report] : reports.items()) {
        if (report.value("installed", false)) ++installed;
      }
      detail["clients_serving"] = everyone ? "all" : "not all";
      detail["install_reports"] = installed;
      detail["fleet_seconds"] = Seconds(tp);
    }
    Step(now["state"].get<std::string>() + " " + target, detail);
    return now["state"].get<std::string>();
  }

  const ReleaseEnv& env_;
  const ReleaseScenario& r_;
  coordinator::Server& server_;
  coordinator::Store& store_;
  ml::Dataset val_;
  double dense_acc_ = 0;    // the dense head's validation accuracy (the gate's reference)
  size_t dense_bytes_ = 0;  // its fp32 artifact's size
  json steps_ = json::array();
  json benchmark_ = json::object();
};

}  // namespace

Result<ReleaseRepo> PrepareReleaseRepo(const std::string& out_dir) {
  ReleaseRepo r;
  const std::string dir = out_dir + "/release";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  r.keys = dir + "/keys";
  r.repo = dir + "/repo";
  coordinator::KeysInitOptions k;
  k.key_dir = r.keys;
  k.repo = r.repo;
  k.now = rel::SystemNow();
  FEDGE_RETURN_IF_ERROR(coordinator::InitKeys(k).status());
  r.root = coordinator::RepoMetadataPath(r.repo, "1.root.json");
  return r;
}

Result<json> RunReleasePhase(const ReleaseEnv& env) { return Phase(env).Run(); }

}  // namespace fedge::sim
