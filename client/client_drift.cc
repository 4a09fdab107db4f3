// The client's drift monitoring: the serving model, on-device classification of camera frames,
// drift references per model version, DriftReports, and focused retraining.

#include <algorithm>
#include <ostream>

#include "client/client.h"
#include "client/inference.h"
#include "shared/base/log.h"
#include "shared/drift/drift_wire.h"
#include "shared/net/wire.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "drift";
}  // namespace

uint64_t Client::serving_version() const { return serving_.Get().version; }

Status Client::UpdateServing(uint64_t version, const std::string& arch,
                             const shared::TensorBundle& state) {
  // Not newer, or a signed release is served.
  if (!serving_.WouldServeRegistry(version)) return Status::Ok();
  FEDGE_ASSIGN_OR_RETURN(ml::Model m, ml::Model::Create(arch, 0));
  FEDGE_RETURN_IF_ERROR(m.LoadState(state));
  // Only the compute pool serves registry models, so the check above still holds.
  if (!serving_.ServeRegistry(version, std::make_shared<const ml::Model>(std::move(m)))) {
    return Status::Ok();
  }
  metrics_->model_version->Set(static_cast<double>(version));
  UseReference(version);
  return Status::Ok();
}

Status Client::SaveLocalProfile(uint64_t version, const drift::Summary& profile) {
  return references_->Save("local", version, profile);
}

void Client::UseReference(uint64_t version) {
  const ServedModel::Snapshot served = serving_.Get();
  if (!served.model || served.version != version) return;
  references_->Use(version, served.model->num_classes());
}

void Client::OnReferenceProfile(const wire::ReferenceProfile& p) {
  Result<drift::Summary> summary = drift::FromWire(*p.summary());
  if (!summary.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id()) << "reference profile of version " << p.model_version()
                                       << " ignored: " << summary.status().message();
    return;
  }
  if (Status s = references_->Save("global", p.model_version(), *summary); !s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id()) << "cannot keep the reference profile: " << s.message();
    return;
  }
  UseReference(p.model_version());
}

void Client::SendDriftWindow(const DriftWindow& w) {
  flatbuffers::FlatBufferBuilder fbb(2048);
  const drift::WindowResult& r = w.result;
  std::vector<flatbuffers::Offset<wire::KeyValue>> distances;
  for (int f = 0; f < drift::kNumFeatures; ++f) {
    const auto feature = static_cast<drift::Feature>(f);
    if (r.summary.Observed(feature) == 0) continue;
    distances.push_back(wire::CreateKeyValue(
        fbb, fbb.CreateString(std::string(drift::FeatureName(feature))), r.psi[f]));
  }
  auto dv = fbb.CreateVector(distances);
  auto top = fbb.CreateString(std::string(drift::FeatureName(r.top_feature)));
  auto summary = drift::ToWire(fbb, r.summary);
  std::vector<uint8_t> payload = shared::FinishEnvelope(
      fbb, wire::CreateDriftReport(fbb, w.model_version, r.index, r.score, top, r.over_threshold,
                                   r.alarm, r.drifted, r.detector_statistic, dv, summary,
                                   w.onset_ms, w.captured_ms));
  if (r.alarm) {
    FEDGE_LOG(Info, kLog).Client(id())
        << "drift detected: window " << r.index << " of model version " << w.model_version
        << ", score " << r.score << " (" << drift::FeatureName(r.top_feature) << ")";
  }
  net::asio::post(strand_, [this, payload = std::move(payload)]() mutable {
    if (conn_ && !conn_->closed()) {
      conn_->Send(std::move(payload));
      ++stats_.drift_reports_sent;
    } else {
      ++stats_.drift_reports_dropped;  // the next windows report the state again
    }
  });
}

void Client::FeedDrift(const drift::FrameObservation& observation, int64_t captured_ms,
                       ObserveResult& out) {
  std::optional<DriftWindow> w = live_->Observe(observation, captured_ms);
  if (!w) return;
  metrics_->drift_windows->Inc();
  metrics_->drift_score->Set(w->result.score);
  metrics_->drifted->Set(w->result.drifted ? 1 : 0);
  if (w->result.alarm) metrics_->drift_alarms->Inc();
  SendDriftWindow(*w);
  out.windows.push_back(std::move(*w));
}

Result<ObserveResult> Client::ObserveFrames(std::span<const Frame> frames) {
  const ServedModel::Snapshot served = serving_.Get();
  const std::shared_ptr<const ml::Model>& model = served.model;
  if (!model) {
    return Status::Unavailable(
        "no model installed yet: the client classifies frames once it has "
        "taken part in a round");
  }
  std::vector<const vision::Image*> images;
  images.reserve(frames.size());
  for (const Frame& f : frames) images.push_back(&f.image);
  ObserveResult out;
  out.model_version = served.version;
  std::vector<drift::FrameObservation> observations;
  const auto start = ClientMetrics::Clock::now();
  Result<std::vector<ml::Prediction>> predictions =
      ClassifyForDrift(*model, images, &observations, &out.timing);
  const auto end = ClientMetrics::Clock::now();
  if (!predictions.ok()) {
    return predictions.status().WithContext("classifying frames " + frames.front().id + "...");
  }
  out.predictions = std::move(*predictions);
  const double per_frame =
      std::chrono::duration<double>(end - start).count() / static_cast<double>(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    ++stats_.frames_observed;
    metrics_->inference_latency->Observe(per_frame);
    metrics_->FrameDone(end);
    if (config_.drift.enabled) FeedDrift(observations[i], frames[i].captured_unix_ms, out);
    if (config_.camera.keep_frames) {
      const ml::Prediction& p = out.predictions[i];
      Result<bool> stored =
          KeepFrame(*store_, frames[i], p.label, p.confidence, config_.camera.frame_format);
      NoteKeepResult(stored.status(), frames[i].id, stats_.frames_not_kept);
      if (stored.ok() && *stored) ++out.stored;
      out.kept.push_back(stored.ok() && *stored);
      out.not_kept.push_back(!stored.ok());
    } else {
      out.kept.push_back(false);
      out.not_kept.push_back(false);
    }
  }
  return out;
}

namespace {

// The camera's view of the client for the inference loop: ObserveFrames one frame at a time
// (the serving model, drift monitor and reports, frames kept). Logs the first frame that came
// before any model.
class ServingClassifier : public FrameClassifier {
 public:
  explicit ServingClassifier(Client& client) : client_(client) {}

  Result<Classification> Classify(const Frame& frame) override {
    Result<ObserveResult> r = client_.ObserveFrames(std::span<const Frame>(&frame, 1));
    if (!r.ok()) {
      if (r.status().code() == shared::Code::kUnavailable && !logged_unavailable_) {
        logged_unavailable_ = true;
        FEDGE_LOG(Info, kLog).Client(client_.id()) << r.status().message();
      }
      return r.status();
    }
    const ml::Prediction& p = r->predictions[0];
    Classification c;
    c.label = p.label;
    c.confidence = p.confidence;
    c.entropy = p.entropy;
    c.model_version = r->model_version;
    c.preprocess_ms = r->timing.preprocess_seconds * 1000.0;
    c.inference_ms = r->timing.inference_seconds * 1000.0;
    c.stored = r->kept[0];
    c.not_kept = r->not_kept[0];
    for (const DriftWindow& w : r->windows) {
      c.drift = DriftNote{w.result.index, w.result.score,
                          std::string(drift::FeatureName(w.result.top_feature)), w.result.drifted};
    }
    return c;
  }

 private:
  Client& client_;
  bool logged_unavailable_ = false;
};

}  // namespace

Result<InferenceSummary> Client::RunCamera(FrameSource& source, std::ostream* sink,
                                           const std::atomic<bool>& stop) {
  ServingClassifier classifier(*this);
  InferenceOptions options;
  options.quarantine = store_.get();
  options.keep_failures = &stats_.frames_not_kept;
  options.metrics = metrics_;
  FEDGE_ASSIGN_OR_RETURN(InferenceSummary summary,
                         RunInference(source, classifier, sink, options, &stop));
  if (summary.skipped > 0) {
    FEDGE_LOG(Info, kLog).Client(id())
        << summary.skipped << " camera frames arrived before a model was installed";
  }
  return summary;
}

}  // namespace fedge::client
