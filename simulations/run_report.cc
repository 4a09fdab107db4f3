#include "simulations/run_report.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "client/camera_data.h"
#include "shared/ml/torch/model.h"
#include "shared/ml/torch/runtime.h"
#include "simulations/camera.h"
#include "simulations/defence_report.h"
#include "simulations/report_html.h"
#include "simulations/timing.h"

namespace fedge::sim {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

json ScenarioJson(const Scenario& s) {
  json out = {{"name", s.name},
              {"file", s.path},
              {"clients", s.clients},
              {"rounds", s.rounds},
              {"seed", s.seed},
              {"partition", s.partition},
              {"alpha", s.alpha},
              {"holdout_fraction", s.holdout_fraction},
              {"local_epochs", s.training.local_epochs},
              {"batch_size", s.training.batch_size},
              {"learning_rate", s.training.learning_rate},
              {"momentum", s.training.momentum},
              {"codec", s.training.codec},
              {"topk_fraction", s.training.topk_fraction},
              {"fraction_fit", s.fraction_fit},
              {"arch", s.arch},
              {"torch_threads", s.torch_threads},
              {"silent_clients", s.silent_clients},
              {"camera", s.camera},
              {"frames_per_client", s.frames_per_client},
              {"augment", s.training.augment.Enabled()},
              {"aggregation", coordinator::AggregationName(s.aggregation.method)}};
  if (s.adversary.fraction > 0) {
    // The attackers are the last `attackers` sites (simulations/adversary.h).
    out["adversary"] = {{"kind", s.adversary.kind},
                        {"fraction", s.adversary.fraction},
                        {"attackers", s.adversary.Count(s.clients)},
                        {"scale", s.adversary.scale},
                        {"noise_std", s.adversary.noise_std}};
    if (s.adversary.kind == "alie") out["adversary"]["z"] = s.adversary.z;
    if (s.adversary.kind == "broken_camera") {
      out["adversary"]["camera_fault"] = s.adversary.camera_fault;
    }
  }
  return out;
}

json EvalJson(const ml::EvalResult& e) {
  return {{"accuracy", e.accuracy},   {"loss", e.loss},     {"macro_f1", e.macro_f1},
          {"precision", e.precision}, {"recall", e.recall}, {"examples", e.examples}};
}

// Evaluates a stored model version on the test set.
Result<ml::EvalResult> EvaluateVersion(coordinator::Store& store, uint64_t version,
                                       const ml::Dataset& test) {
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, LoadVersion(store, version));
  return model.Evaluate(test, {});
}

// The test set the report evaluates on: Fashion-MNIST's 10,000 test images, or for camera
// scenarios those rendered over the sites' conditions.
Result<ml::Dataset> ReportTestSet(const Scenario& sc, const std::string& out_dir) {
  FEDGE_ASSIGN_OR_RETURN(ml::Dataset test, ml::LoadFashionMnist(sc.data_dir, ml::Split::kTest));
  if (!sc.camera) return test;
  FEDGE_ASSIGN_OR_RETURN(ml::Model shape, ml::Model::Create(sc.arch, 0));
  vision::InputSpec spec =
      client::InputSpecFor(shape.input_channels(), shape.input_height(), shape.input_width());
  return RenderedTestSet(test, sc, spec, out_dir + "/camera");
}

// [adversary] paired: each round's accuracy without the attackers (the same scenario with them
// honest) beside the round's, and the final drop.
void AddPairedRun(const json& without, json* report, bool quiet) {
  std::map<uint64_t, double> honest;
  for (const json& r : without.value("rounds", json::array())) {
    honest[r.at("round").get<uint64_t>()] = r.at("accuracy").get<double>();
  }
  for (json& r : (*report)["rounds"]) {
    auto it = honest.find(r.at("round").get<uint64_t>());
    if (it != honest.end()) r["accuracy_without_attackers"] = it->second;
  }
  const double with = (*report)["final"]["accuracy"].get<double>();
  const double base = without.at("final").at("accuracy").get<double>();
  (*report)["paired"] = {{"final_accuracy_without_attackers", base},
                         {"final_accuracy", with},
                         {"accuracy_drop_points", 100 * (base - with)},
                         {"model_digest_without_attackers", without["final"]["model_digest"]}};
  if (!quiet) {
    std::printf("paired run: test accuracy %.4f with the attackers, %.4f without (%+.2f points)\n",
                with, base, 100 * (with - base));
  }
}

// Every round's model evaluated on `test` into report["rounds"], "final" and "traffic".
Status ReportRounds(const RunRecord& run, const ml::Dataset& test, json& report) {
  json rounds = json::array();
  ml::EvalResult last{};
  uint64_t bytes_up = 0, bytes_down = 0;
  for (const auto& s : *run.summaries) {
    FEDGE_ASSIGN_OR_RETURN(ml::EvalResult e,
                           EvaluateVersion(run.server->store(), s.model_version, test));
    last = e;
    bytes_up += s.bytes_in;
    bytes_down += s.bytes_out;
    rounds.push_back({{"round", s.round},
                      {"model_version", s.model_version},
                      {"accuracy", e.accuracy},
                      {"loss", e.loss},
                      {"macro_f1", e.macro_f1},
                      {"clients", s.updates},
                      {"sampled", s.sampled},
                      {"rejected", s.rejected},
                      {"examples", s.examples},
                      {"train_loss", s.train_loss},
                      {"federated_eval", s.evaluation},
                      {"bytes_up", s.bytes_in},
                      {"bytes_down", s.bytes_out},
                      {"seconds", s.seconds}});
    if (!s.defence.is_null()) rounds.back()["defence"] = s.defence;
    if (!s.aggregation.is_null()) rounds.back()["aggregation"] = s.aggregation;
  }
  if (run.summaries->empty()) return Status::Internal("no round completed; see the log above");
  const auto& final_summary = run.summaries->back();
  json final_json = EvalJson(last);
  final_json["model_version"] = std::to_string(final_summary.model_version);
  final_json["model_digest"] = final_summary.model_digest;
  final_json["test_examples"] = last.examples;
  report["rounds"] = rounds;
  report["final"] = final_json;
  report["traffic"] = {{"bytes_up", bytes_up}, {"bytes_down", bytes_down}};
  return Status::Ok();
}

// report["stream"]: the stream phase and the paired evaluation of every round's version.
Status ReportStream(const RunRecord& run, json& report) {
  std::vector<uint64_t> versions;
  for (const auto& s : *run.summaries) versions.push_back(s.model_version);
  const uint64_t pre = (*run.stream)["pre_drift_version"].get<uint64_t>();
  FEDGE_ASSIGN_OR_RETURN(json paired,
                         EvaluatePaired(*run.stream_env, *run.stream_sites, versions, pre));
  report["stream"] = *run.stream;
  report["stream"]["paired"] = std::move(paired);
  if (run.options->quiet) return Status::Ok();
  const json& summary = report["stream"]["paired"]["summary"];
  if (summary.contains("drifted_clients")) {
    const json& d = summary["drifted_clients"];
    std::printf(
        "drifted clients: pre-drift %.4f, after drift %.4f, after retraining %.4f "
        "(%+.2f points)\n",
        d["pre_drift_accuracy"].get<double>(),
        d["accuracy_after_drift_before_retraining"].get<double>(),
        d["final_accuracy_on_drifted_frames"].get<double>(),
        d["points_from_pre_drift"].get<double>());
  }
  if (summary.contains("untouched_clients")) {
    const json& u = summary["untouched_clients"];
    std::printf("untouched clients: pre-drift %.4f, final %.4f (%+.2f points)\n",
                u["pre_drift_accuracy"].get<double>(), u["final_accuracy"].get<double>(),
                u["points_from_pre_drift"].get<double>());
  }
  return Status::Ok();
}

// report["release"] and report.html's releases table, from the release phase's section.
void ReportRelease(const RunRecord& run, json& report) {
  report["release"] = *run.release;
  json rows = json::array();  // report.html's releases table
  for (const json& r : report["release"]["rollouts"]) {
    rows.push_back({{"name", r["target"]},
                    {"version", r["counter"]},
                    {"state", r["state"]},
                    {"arch", r["arch"]},
                    {"canary_percent", r["canary_percent"]},
                    {"steps", r["steps"]}});
  }
  report["releases"] = rows;
  if (run.options->quiet || !report["release"]["benchmark"].contains("size_ratio")) return;
  const json& b = report["release"]["benchmark"];
  std::printf(
      "release: %s; artifact %llu -> %llu bytes (%.1fx smaller), validation "
      "accuracy %.4f -> %.4f (%+.2f points)\n",
      report["release"]["result"].get<std::string>().c_str(),
      static_cast<unsigned long long>(b["dense_fp32_artifact_bytes"].get<uint64_t>()),
      static_cast<unsigned long long>(b["release_artifact_bytes"].get<uint64_t>()),
      b["size_ratio"].get<double>(), b["dense_validation_accuracy"].get<double>(),
      b["release_validation_accuracy"].get<double>(), -b["accuracy_drop_points"].get<double>());
}

// Step 4, the report: every round's model evaluated on the test images, the phases' sections;
// written to out_dir/report.json and report.html.
}  // namespace

Result<json> WriteRunReport(const RunRecord& run) {
  const Scenario& sc = *run.sc;
  const std::string& out_dir = run.options->out_dir;
  FEDGE_ASSIGN_OR_RETURN(ml::Dataset test, ReportTestSet(sc, out_dir));
  ml::ConfigureRuntime(std::max(2, sc.torch_threads));
  json report = {{"scenario", ScenarioJson(sc)}};
  FEDGE_RETURN_IF_ERROR(ReportRounds(run, test, report));
  report["timing"] = {
      {"startup_seconds", run.startup_seconds},
      {"rounds_seconds", run.rounds_seconds},
      {"mean_round_seconds", run.rounds_seconds / static_cast<double>(run.summaries->size())},
      {"total_seconds", Seconds(run.t_start)}};
  report["runtime"] = {{"blas", ml::BlasLibraryInUse()}};
  if (sc.camera) {
    report["camera"] = {{"sites", run.camera_sites},
                        {"render_and_ingest_seconds", run.camera_seconds},
                        {"test_split", "rendered: first " + std::to_string(test.size) +
                                           " test images spread over the sites' conditions"}};
  }
  report["drift"] = run.server->engine().Snapshot().value("drift", json::object());
  if (!run.stream_sites->empty()) FEDGE_RETURN_IF_ERROR(ReportStream(run, report));
  if (run.release) ReportRelease(run, report);
  if (run.without_attackers) AddPairedRun(*run.without_attackers, &report, run.options->quiet);
  std::vector<std::string> attackers;
  for (int i = 0; i < sc.clients && i < static_cast<int>(run.client_ids->size()); ++i) {
    if (sc.adversary.Attacker(i, sc.clients)) attackers.push_back((*run.client_ids)[i]);
  }
  if (json defence = DefenceReport(*run.summaries, *run.client_ids, attackers);
      !defence.is_null()) {
    if (!run.options->quiet) {
      const json& f = defence["final"];
      std::printf("defence: %d site(s) quarantined, %d of %zu attacker(s), %d honest\n",
                  f["quarantined"].get<int>(), f["attackers_quarantined"].get<int>(),
                  attackers.size(), f["honest_quarantined"].get<int>());
    }
    report["defence"] = std::move(defence);
  }
  std::ofstream out(out_dir + "/report.json");
  out << report.dump(2) << "\n";
  if (!out) return Status::IOError("cannot write " + out_dir + "/report.json");
  FEDGE_RETURN_IF_ERROR(WriteReportHtml(report, out_dir + "/report.html"));
  return report;
}

}  // namespace fedge::sim
