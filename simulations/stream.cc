#include "simulations/stream.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "client/camera_data.h"
#include "shared/codec/bundle_codec.h"
#include "shared/ml/torch/model.h"
#include "shared/net/wire.h"
#include "shared/vision/image_codec.h"
#include "shared/vision/render.h"
#include "simulations/camera.h"
#include "simulations/drift_timeline.h"

namespace fedge::sim {

using nlohmann::json;
using shared::Result;
using shared::Status;

namespace {

using Clock = std::chrono::steady_clock;

// Renders item `item` (784 bytes) under `conditions` with `rng`, through the site's JPEG
// compression (as frames of the rendered training videos were).
Result<vision::Image> RenderCompressed(std::span<const uint8_t> item,
                                       const vision::SiteConditions& conditions,
                                       std::mt19937_64& rng, int frame_size) {
  vision::Image img = vision::RenderFrame(item, conditions, rng, frame_size);
  FEDGE_ASSIGN_OR_RETURN(
      std::vector<uint8_t> jpeg,
      vision::EncodeImage(img, vision::ImageFormat::kJpeg, conditions.jpeg_quality));
  return vision::DecodeImage(jpeg);
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

uint64_t HeadVersion(coordinator::Server& server) { return server.engine().current_version(); }

}  // namespace

Result<ml::Model> LoadVersion(coordinator::Store& store, uint64_t version) {
  FEDGE_ASSIGN_OR_RETURN(coordinator::ModelRecord rec, store.GetModel(version));
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest, shared::DigestFromHex(rec.digest_hex));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, store.GetBlob(digest));
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, shared::DecodeBundle(blob));
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, ml::Model::Create(rec.arch, 0));
  FEDGE_RETURN_IF_ERROR(model.LoadState(state));
  return model;
}

namespace {

constexpr int64_t kFrameMs = 100;  // 10 frames a second of simulated time

// One run of the stream phase: its state across steps and what the report says about it.
class StreamRun {
 public:
  StreamRun(const StreamEnv& env, std::vector<StreamSite>& sites)
      : env_(env), sc_(*env.scenario), engine_(env.server->engine()), sites_(sites) {}

  Result<json> Run() {
    engine_.LimitRounds(0);  // from now on rounds run only when the stream lets them
    steps_ = (sc_.stream_frames + sc_.step_frames - 1) / sc_.step_frames;
    t0_ms_ = static_cast<int64_t>(shared::UnixMillis());
    Prepare();
    const auto t_start = Clock::now();
    for (int step = 0; step < steps_; ++step) FEDGE_RETURN_IF_ERROR(Step(step));
    json events = json::array();
    for (const DriftEvent& e : sc_.timeline.events) {
      events.push_back({{"kind", KindName(e.kind)},
                        {"clients", e.clients},
                        {"at_frame", e.at_frame},
                        {"mode", e.gradual ? "gradual" : "abrupt"},
                        {"ramp_frames", e.ramp_frames},
                        {"severity", e.severity}});
    }
    return json{{"steps", steps_json_},
                {"windows", windows_},
                {"stream_accuracy", accuracy_},
                {"events", events},
                {"rounds_at_step", rounds_at_},
                {"pre_drift_version", first_onset_version_},
                {"seconds", std::chrono::duration<double>(Clock::now() - t_start).count()}};
  }

 private:
  // Each site's stream items, labels and frame rng; the report's per-site arrays; the first
  // drift onset over all sites.
  void Prepare() {
    items_.resize(sites_.size());
    labels_.resize(sites_.size());
    pending_.resize(sites_.size());
    for (size_t i = 0; i < sites_.size(); ++i) {
      items_[i] = Items(*env_.train, sites_[i].stream_items, &labels_[i]);
      rngs_.emplace_back(sc_.seed * 1000003 + i * 7919 + 17);
    }
    for (const StreamSite& s : sites_) {
      windows_[s.id] = json::array();
      accuracy_[s.id] = json::array();
    }
    for (size_t i = 0; i < sites_.size(); ++i) {
      if (auto o = DriftOnset(sc_.timeline, static_cast<int>(i))) {
        first_onset_ = first_onset_ ? std::min(*first_onset_, *o) : *o;
      }
    }
  }

  // Step `step`: every site sees its frames, then the coordinator's reports and round.
  Status Step(int step) {
    const uint64_t begin = static_cast<uint64_t>(step) * sc_.step_frames;
    const uint64_t n = std::min<uint64_t>(sc_.step_frames, sc_.stream_frames - begin);
    if (first_onset_ && first_onset_version_ == 0 && begin + n > *first_onset_) {
      first_onset_version_ = HeadVersion(*env_.server);
    }
    const uint64_t reports_before = engine_.drift_reports();
    uint64_t windows_sent = 0;
    json step_acc = json::object();
    for (size_t i = 0; i < sites_.size(); ++i) {
      FEDGE_RETURN_IF_ERROR(SiteStep(i, step, begin, n, &windows_sent, &step_acc));
    }
    // The coordinator has seen this step's reports before the next step starts.
    const std::function<bool()> reported = [&] {
      return engine_.drift_reports() >= reports_before + windows_sent;
    };
    WaitFor(reported, std::chrono::seconds(20));
    json step_json = {{"step", step},
                      {"frames", begin + n},
                      {"model_version", HeadVersion(*env_.server)},
                      {"accuracy", step_acc}};
    FEDGE_RETURN_IF_ERROR(RunDecidedRound(step, &step_json));
    steps_json_.push_back(step_json);
    if (!env_.quiet) PrintStep(step, begin + n, step_acc, step_json);
    return Status::Ok();
  }

  // Site `i` classifies frames [begin, begin + n) of its stream; its accuracy, drift windows and
  // the reviewer's labels.
  Status SiteStep(size_t i, int step, uint64_t begin, uint64_t n, uint64_t* windows_sent,
                  json* step_acc) {
    StreamSite& site = sites_[i];
    std::vector<client::Frame> frames(n);
    std::vector<int64_t> truth(n);
    FEDGE_RETURN_IF_ERROR(RenderFrames(i, begin, frames, truth));
    FEDGE_ASSIGN_OR_RETURN(client::ObserveResult r, site.client->ObserveFrames(frames));
    uint64_t correct = 0;
    for (uint64_t j = 0; j < n; ++j) correct += r.predictions[j].label == truth[j];
    const double acc = static_cast<double>(correct) / static_cast<double>(n);
    accuracy_[site.id].push_back(acc);
    (*step_acc)[site.id] = acc;
    for (const client::DriftWindow& w : r.windows) {
      ++*windows_sent;
      RecordWindow(site.id, step, w);
    }
    return Review(i, step, frames, truth);
  }

  // Frames begin, begin + 1, ... of site `i` (as many as `frames` holds) and their labels.
  Status RenderFrames(size_t i, uint64_t begin, std::vector<client::Frame>& frames,
                      std::vector<int64_t>& truth) {
    const StreamSite& site = sites_[i];
    const vision::SiteConditions base =
        vision::SiteConditionsForIndex(static_cast<int>(i), sc_.seed);
    const size_t pool = site.stream_items.size();
    for (uint64_t j = 0; j < frames.size(); ++j) {
      const uint64_t g = begin + j;
      const size_t k = static_cast<size_t>(g % pool);
      const vision::SiteConditions c = ConditionsAt(sc_.timeline, static_cast<int>(i), g, base);
      FEDGE_ASSIGN_OR_RETURN(frames[j].image, RenderCompressed(std::span<const uint8_t>(
                                                                   items_[i].data() + k * 784, 784),
                                                               c, rngs_[i], sc_.frame_size));
      frames[j].id = site.id + "-live#" + std::to_string(g);
      frames[j].index = g;
      frames[j].captured_unix_ms = t0_ms_ + static_cast<int64_t>(g) * kFrameMs;
      truth[j] = labels_[i][k];
    }
    return Status::Ok();
  }

  void RecordWindow(const std::string& site_id, int step, const client::DriftWindow& w) {
    // Frames of the stream seen when the window ended.
    const uint64_t frame =
        (w.captured_ms - static_cast<uint64_t>(t0_ms_)) / static_cast<uint64_t>(kFrameMs) + 1;
    windows_[site_id].push_back({{"step", step},
                                 {"frame", frame},
                                 {"model_version", w.model_version},
                                 {"reference", w.reference},
                                 {"window", w.result.index},
                                 {"score", w.result.score},
                                 {"feature", drift::FeatureName(w.result.top_feature)},
                                 {"detector", w.result.detector_statistic},
                                 {"alarm", w.result.alarm},
                                 {"drifted", w.result.drifted}});
  }

  // The reviewer labels label_budget frames of this step, spread over it; labels of step s
  // reach the site's store at step s + delay.
  Status Review(size_t i, int step, const std::vector<client::Frame>& frames,
                const std::vector<int64_t>& truth) {
    const uint64_t n = frames.size();
    std::vector<client::LabelAssignment> batch;
    for (int b = 0; b < sc_.label_budget && n > 0; ++b) {
      const uint64_t j = static_cast<uint64_t>(b) * n / static_cast<uint64_t>(sc_.label_budget);
      batch.push_back({frames[j].id, truth[j]});
    }
    pending_[i][step + sc_.label_delay_steps] = std::move(batch);
    if (auto due = pending_[i].find(step); due != pending_[i].end()) {
      FEDGE_RETURN_IF_ERROR(sites_[i]
                                .client->store()
                                ->SetLabels(due->second, static_cast<int64_t>(shared::UnixMillis()))
                                .status());
      pending_[i].erase(due);
    }
    return Status::Ok();
  }

  // Rounds the coordinator decided to run (a drift campaign): one per step.
  Status RunDecidedRound(int step, json* step_json) {
    const size_t done_before = env_.completed_rounds();
    if (engine_.target_round() <= done_before) return Status::Ok();
    engine_.LimitRounds(1);
    const std::function<bool()> round_done = [&] { return env_.completed_rounds() > done_before; };
    if (!WaitFor(round_done, std::chrono::seconds(sc_.round_timeout_seconds * 3 + 60))) {
      return Status::DeadlineExceeded("stream step " + std::to_string(step) +
                                      ": the coordinator's round did not complete");
    }
    engine_.LimitRounds(0);
    (*step_json)["round"] = env_.completed_rounds();
    (*step_json)["model_version_after"] = HeadVersion(*env_.server);
    rounds_at_.push_back({{"step", step}, {"round", env_.completed_rounds()}});
    return Status::Ok();
  }

  void PrintStep(int step, uint64_t frames, const json& step_acc, const json& step_json) const {
    double mean = 0;
    for (const auto& [id, a] : step_acc.items()) mean += a.get<double>();
    mean /= static_cast<double>(std::max<size_t>(1, sites_.size()));
    int drifted = 0;
    for (const StreamSite& s : sites_) {
      drifted += !windows_[s.id].empty() && windows_[s.id].back()["drifted"].get<bool>();
    }
    std::printf("stream step %3d/%d  frames %6llu  stream accuracy %.4f  drifted clients %d%s\n",
                step + 1, steps_, static_cast<unsigned long long>(frames), mean, drifted,
                step_json.contains("round")
                    ? ("  round " + std::to_string(step_json["round"].get<size_t>())).c_str()
                    : "");
    std::fflush(stdout);
  }

  const StreamEnv& env_;
  const Scenario& sc_;
  coordinator::RoundEngine& engine_;
  std::vector<StreamSite>& sites_;
  int steps_ = 0;
  int64_t t0_ms_ = 0;
  std::vector<std::vector<uint8_t>> items_;
  std::vector<std::vector<int64_t>> labels_;
  std::vector<std::mt19937_64> rngs_;
  std::vector<std::map<int, std::vector<client::LabelAssignment>>> pending_;  // by due step
  json windows_ = json::object(), accuracy_ = json::object(), rounds_at_ = json::array();
  json steps_json_ = json::array();
  uint64_t first_onset_version_ = 0;
  std::optional<uint64_t> first_onset_;
};

// Per site: the same items with the same jitter, clean and under the stream's final conditions.
struct PairedSets {
  std::vector<ml::Dataset> clean, drifted;
  std::vector<bool> affected;  // the site has a drift event
};

// Site `i`'s held-out items rendered clean and drifted into sets->clean[i], sets->drifted[i].
Status RenderPair(const StreamEnv& env, const StreamSite& site, size_t i,
                  const vision::InputSpec& spec, int num_classes, PairedSets* sets) {
  const Scenario& sc = *env.scenario;
  const size_t per = spec.Floats();
  std::vector<int64_t> labels;
  std::vector<uint8_t> items = Items(*env.train, site.eval_items, &labels);
  const vision::SiteConditions base = vision::SiteConditionsForIndex(static_cast<int>(i), sc.seed);
  const uint64_t last = sc.stream_frames > 0 ? static_cast<uint64_t>(sc.stream_frames - 1) : 0;
  const vision::SiteConditions end = ConditionsAt(sc.timeline, static_cast<int>(i), last, base);
  sets->affected[i] = DriftOnset(sc.timeline, static_cast<int>(i)).has_value();
  for (ml::Dataset* d : {&sets->clean[i], &sets->drifted[i]}) {
    d->channels = spec.channels;
    d->height = spec.height;
    d->width = spec.width;
    d->num_classes = num_classes;
    d->size = static_cast<int64_t>(labels.size());
    d->labels = labels;
    d->images.resize(labels.size() * per);
  }
  for (size_t k = 0; k < labels.size(); ++k) {
    std::span<const uint8_t> item(items.data() + k * 784, 784);
    for (int pass = 0; pass < 2; ++pass) {
      std::mt19937_64 rng(sc.seed * 31 + i * 1000003 + k);
      FEDGE_ASSIGN_OR_RETURN(vision::Image img,
                             RenderCompressed(item, pass == 0 ? base : end, rng, sc.frame_size));
      ml::Dataset& d = pass == 0 ? sets->clean[i] : sets->drifted[i];
      FEDGE_RETURN_IF_ERROR(
          vision::Preprocess(img, spec, std::span<float>(d.images.data() + k * per, per)));
    }
  }
  return Status::Ok();
}

// Every version on every site's pair: per_client[id][version] = {clean, drifted}; by_version the
// means (drifted sites on drifted frames, untouched sites on clean frames).
Status EvaluateVersions(coordinator::Store& store, const std::vector<StreamSite>& sites,
                        const std::vector<uint64_t>& versions, const PairedSets& sets,
                        json* per_client, std::map<uint64_t, json>* by_version) {
  for (uint64_t v : versions) {
    FEDGE_ASSIGN_OR_RETURN(ml::Model model, LoadVersion(store, v));
    double drifted_sum = 0, untouched_sum = 0;
    int n_drifted = 0, n_untouched = 0;
    for (size_t i = 0; i < sites.size(); ++i) {
      FEDGE_ASSIGN_OR_RETURN(ml::EvalResult c, model.Evaluate(sets.clean[i], {}));
      FEDGE_ASSIGN_OR_RETURN(ml::EvalResult d, model.Evaluate(sets.drifted[i], {}));
      (*per_client)[sites[i].id][std::to_string(v)] = {{"clean", c.accuracy},
                                                       {"drifted", d.accuracy}};
      if (sets.affected[i]) {
        drifted_sum += d.accuracy;
        ++n_drifted;
      } else {
        untouched_sum += c.accuracy;
        ++n_untouched;
      }
    }
    json vj = {{"version", v}};
    if (n_drifted) vj["drifted_clients_on_drifted_frames"] = drifted_sum / n_drifted;
    if (n_untouched) vj["untouched_clients"] = untouched_sum / n_untouched;
    (*by_version)[v] = vj;
  }
  return Status::Ok();
}

// The summary against the pre-drift reference: the version serving when the first event
// began, on clean frames; empty if that version was not evaluated.
json PairedSummary(const std::vector<StreamSite>& sites, const std::vector<bool>& affected,
                   json& per_client, uint64_t pre_drift_version, uint64_t final_version) {
  json summary = json::object();
  if (pre_drift_version == 0 || per_client.size() == 0 ||
      !per_client.begin().value().contains(std::to_string(pre_drift_version))) {
    return summary;
  }
  const std::string pre = std::to_string(pre_drift_version);
  const std::string fin = std::to_string(final_version);
  double pre_d = 0, drop_d = 0, fin_d = 0, pre_u = 0, fin_u = 0;
  int nd = 0, nu = 0;
  for (size_t i = 0; i < sites.size(); ++i) {
    const json& pc = per_client[sites[i].id];
    if (affected[i]) {
      pre_d += pc[pre]["clean"].get<double>();
      drop_d += pc[pre]["drifted"].get<double>();
      fin_d += pc[fin]["drifted"].get<double>();
      ++nd;
    } else {
      pre_u += pc[pre]["clean"].get<double>();
      fin_u += pc[fin]["clean"].get<double>();
      ++nu;
    }
  }
  if (nd > 0) {
    summary["drifted_clients"] = {{"clients", nd},
                                  {"pre_drift_accuracy", pre_d / nd},
                                  {"accuracy_after_drift_before_retraining", drop_d / nd},
                                  {"final_accuracy_on_drifted_frames", fin_d / nd},
                                  {"points_from_pre_drift", 100.0 * (fin_d - pre_d) / nd}};
  }
  if (nu > 0) {
    summary["untouched_clients"] = {{"clients", nu},
                                    {"pre_drift_accuracy", pre_u / nu},
                                    {"final_accuracy", fin_u / nu},
                                    {"points_from_pre_drift", 100.0 * (fin_u - pre_u) / nu}};
  }
  summary["pre_drift_version"] = pre_drift_version;
  summary["final_version"] = final_version;
  return summary;
}

}  // namespace

Result<json> RunStream(const StreamEnv& env, std::vector<StreamSite>& sites) {
  return StreamRun(env, sites).Run();
}

Result<json> EvaluatePaired(const StreamEnv& env, const std::vector<StreamSite>& sites,
                            const std::vector<uint64_t>& versions, uint64_t pre_drift_version) {
  coordinator::Store& store = env.server->store();
  FEDGE_ASSIGN_OR_RETURN(coordinator::ModelRecord head, store.GetModel(versions.back()));
  FEDGE_ASSIGN_OR_RETURN(ml::Model shape, ml::Model::Create(head.arch, 0));
  const vision::InputSpec spec =
      client::InputSpecFor(shape.input_channels(), shape.input_height(), shape.input_width());
  PairedSets sets;
  sets.clean.resize(sites.size());
  sets.drifted.resize(sites.size());
  sets.affected.assign(sites.size(), false);
  for (size_t i = 0; i < sites.size(); ++i) {
    FEDGE_RETURN_IF_ERROR(RenderPair(env, sites[i], i, spec, shape.num_classes(), &sets));
  }
  json per_client = json::object();
  std::map<uint64_t, json> by_version;
  FEDGE_RETURN_IF_ERROR(EvaluateVersions(store, sites, versions, sets, &per_client, &by_version));
  json summary =
      PairedSummary(sites, sets.affected, per_client, pre_drift_version, versions.back());
  json versions_json = json::array();
  for (auto& [v, j] : by_version) versions_json.push_back(j);
  return json{{"items_per_client", sites.empty() ? 0 : sites[0].eval_items.size()},
              {"per_client", per_client},
              {"by_version", versions_json},
              {"summary", summary}};
}

}  // namespace fedge::sim
