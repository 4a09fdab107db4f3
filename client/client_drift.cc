// The client's drift monitoring: the serving model, on-device classification of camera frames,
// drift references per model version, DriftReports, and focused retraining.

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include "client/camera_data.h"
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

std::string ProfileKey(const char* kind, uint64_t version) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "drift/%s/%020llu", kind,
                static_cast<unsigned long long>(version));
  return buf;
}
}  // namespace

uint64_t Client::serving_version() const {
  std::lock_guard<std::mutex> lock(serving_mu_);
  return serving_version_;
}

Status Client::UpdateServing(uint64_t version, const std::string& arch,
                             const shared::TensorBundle& state) {
  {
    std::lock_guard<std::mutex> lock(serving_mu_);
    if (serving_ && version <= serving_version_) return Status::Ok();
    if (!serving_release_.empty()) return Status::Ok();  // a signed release is served
  }
  FEDGE_ASSIGN_OR_RETURN(ml::Model m, ml::Model::Create(arch, 0));
  FEDGE_RETURN_IF_ERROR(m.LoadState(state));
  {
    std::lock_guard<std::mutex> lock(serving_mu_);
    serving_ = std::make_shared<const ml::Model>(std::move(m));
    serving_version_ = version;
  }
  metrics_->model_version->Set(static_cast<double>(version));
  UseReference(version);
  return Status::Ok();
}

Status Client::SaveLocalProfile(uint64_t version, const drift::Summary& profile) {
  return store_->PutState(ProfileKey("local", version), drift::EncodeSummary(profile));
}

void Client::UseReference(uint64_t version) {
  int num_classes = 0;
  {
    std::lock_guard<std::mutex> lock(serving_mu_);
    if (!serving_ || serving_version_ != version) return;
    num_classes = serving_->num_classes();
  }
  const bool prefer_local = config_.drift.reference == "local";
  const char* order[2] = {prefer_local ? "local" : "global", prefer_local ? "global" : "local"};
  for (const char* source : order) {
    if (live_->version() == version && live_->source() == source) return;  // in use already
    Result<std::optional<std::vector<uint8_t>>> bytes =
        store_->GetState(ProfileKey(source, version));
    if (!bytes.ok() || !bytes->has_value()) continue;
    Result<drift::Summary> summary = drift::DecodeSummary(**bytes);
    if (!summary.ok()) {
      FEDGE_LOG(Warn, kLog).Client(id()) << "stored " << source << " profile of version " << version
                                         << " unusable: " << summary.status().message();
      continue;
    }
    live_->SetReference(version, std::move(*summary), source, num_classes);
    FEDGE_LOG(Debug, kLog).Client(id())
        << "drift reference: version " << version << " (" << source << ")";
    return;
  }
}

void Client::OnReferenceProfile(const wire::ReferenceProfile& p) {
  Result<drift::Summary> summary = drift::FromWire(*p.summary());
  if (!summary.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id()) << "reference profile of version " << p.model_version()
                                       << " ignored: " << summary.status().message();
    return;
  }
  if (Status s =
          store_->PutState(ProfileKey("global", p.model_version()), drift::EncodeSummary(*summary));
      !s.ok()) {
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

std::vector<int64_t> Client::FocusIndices(uint64_t since_ms, double fraction) const {
  if (data_.captured_ms.size() != static_cast<size_t>(data_.dataset->size)) return data_.train;
  std::vector<int64_t> out =
      client::FocusIndices(data_.train, data_.captured_ms, since_ms, fraction);
  if (out.size() > data_.train.size()) {
    FEDGE_LOG(Info, kLog).Client(id())
        << "drift retraining: " << (out.size() - data_.train.size())
        << " extra draws of the labelled frames captured since the drift, " << out.size()
        << " examples";
  }
  return out;
}

Result<ObserveResult> Client::ObserveFrames(std::span<const Frame> frames) {
  std::shared_ptr<const ml::Model> model;
  {
    std::lock_guard<std::mutex> lock(serving_mu_);
    model = serving_;
  }
  if (!model) {
    return Status::Unavailable(
        "no model installed yet: the client classifies frames once it has "
        "taken part in a round");
  }
  std::vector<const vision::Image*> images;
  images.reserve(frames.size());
  for (const Frame& f : frames) images.push_back(&f.image);
  ObserveResult out;
  std::vector<drift::FrameObservation> observations;
  const auto start = ClientMetrics::Clock::now();
  Result<std::vector<ml::Prediction>> predictions = ClassifyForDrift(*model, images, &observations);
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
    if (config_.drift.enabled) {
      std::optional<DriftWindow> w = live_->Observe(observations[i], frames[i].captured_unix_ms);
      if (w) {
        metrics_->drift_windows->Inc();
        metrics_->drift_score->Set(w->result.score);
        metrics_->drifted->Set(w->result.drifted ? 1 : 0);
        if (w->result.alarm) metrics_->drift_alarms->Inc();
        SendDriftWindow(*w);
        out.windows.push_back(std::move(*w));
      }
    }
    if (config_.camera.keep_frames) {
      Result<bool> stored =
          KeepFrame(*store_, frames[i], out.predictions[i], config_.camera.frame_format);
      NoteKeepResult(stored.status(), frames[i].id, stats_.frames_not_kept);
      if (stored.ok() && *stored) ++out.stored;
    }
  }
  return out;
}

Result<uint64_t> Client::RunCamera(FrameSource& source, std::ostream* sink,
                                   const std::atomic<bool>& stop) {
  uint64_t classified = 0, skipped = 0;
  while (!stop.load()) {
    FEDGE_ASSIGN_OR_RETURN(std::optional<Frame> frame, source.Next());
    if (!frame) break;
    if (!frame->unreadable.empty()) {
      metrics_->frames_unreadable->Inc();
      NoteKeepResult(store_->Quarantine(frame->id, "unreadable: " + frame->unreadable,
                                        frame->captured_unix_ms),
                     frame->id, stats_.frames_not_kept);
      continue;
    }
    Result<ObserveResult> r = ObserveFrames(std::span<const Frame>(&*frame, 1));
    if (r.status().code() == shared::Code::kUnavailable) {
      if (skipped++ == 0) {
        FEDGE_LOG(Info, kLog).Client(id()) << r.status().message();
      }
      continue;
    }
    FEDGE_RETURN_IF_ERROR(r.status());
    ++classified;
    if (sink != nullptr) {
      const ml::Prediction& p = r->predictions[0];
      nlohmann::json line = {{"frame_id", frame->id},
                             {"captured_unix_ms", frame->captured_unix_ms},
                             {"model_version", serving_version()},
                             {"class", p.label},
                             {"confidence", p.confidence},
                             {"entropy", p.entropy}};
      for (const DriftWindow& w : r->windows) {
        line["drift"] = {{"window", w.result.index},
                         {"score", w.result.score},
                         {"feature", drift::FeatureName(w.result.top_feature)},
                         {"drifted", w.result.drifted}};
      }
      *sink << line.dump() << '\n';
      if (!*sink) return Status::IOError("cannot write the prediction sink");
    }
  }
  if (sink != nullptr) sink->flush();
  if (skipped > 0) {
    FEDGE_LOG(Info, kLog).Client(id())
        << skipped << " camera frames arrived before a model was installed";
  }
  return classified;
}

}  // namespace fedge::client
