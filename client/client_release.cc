// Signed releases from the coordinator: offers, the artifact download, verification and
// installation (client/updater.h), the canary's evaluation, reverts, and install reports.

#include <algorithm>
#include <filesystem>
#include <map>

#include "client/client.h"
#include "client/updater.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/net/offload.h"
#include "shared/net/wire.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "release";

// The updater's options for `target` on this site: limits from [update], the input shape and
// health-check frames from the site's own data.
UpdateOptions ReleaseOptions(const ClientConfig& config, const std::string& target,
                             const LocalData& site) {
  UpdateOptions o;
  o.state_dir = config.state_dir;
  o.initial_root_path = config.update.root;
  o.max_artifact_bytes = config.update.max_artifact_bytes;
  o.latency_budget_ms = config.update.latency_budget_ms;
  o.health_frames = config.update.health_frames;
  o.target = target;
  const ml::Dataset* data = site.dataset.get();
  if (data != nullptr && data->size > 0) {
    o.input_shape = {static_cast<uint32_t>(data->channels), static_cast<uint32_t>(data->height),
                     static_cast<uint32_t>(data->width)};
    // The health check runs on this site's own recent frames (held-out, newest last).
    const int64_t per = data->ExampleElements();
    const std::vector<int64_t>& pool = site.eval.empty() ? site.train : site.eval;
    const size_t n = std::min<size_t>(pool.size(), static_cast<size_t>(o.health_frames));
    for (size_t i = pool.size() - n; i < pool.size(); ++i) {
      auto begin = data->images.begin() + pool[i] * per;
      o.health_inputs.insert(o.health_inputs.end(), begin, begin + per);
    }
  }
  return o;
}
}  // namespace

struct Client::ReleaseJob {
  uint64_t rollout_id = 0;
  std::string target;
  uint64_t counter = 0;
  bool revert = false;
  std::string reason;  // revert: why
  bool evaluate = false;
  bool checked = false;  // an offer's metadata verified: its artifact may be downloaded
  std::map<std::string, std::vector<uint8_t>> files;
  shared::Digest digest{};
  uint64_t size = 0;
  std::vector<uint8_t> artifact;
  // Results, filled on the compute pool.
  bool installed = false;
  bool reverted = false;
  std::string error;
  double median_latency_ms = 0;
  uint64_t eval_examples = 0;
  double accuracy = 0, previous_accuracy = 0;
  std::string previous;
  std::string active_target;
  uint64_t active_counter = 0;
};

std::pair<std::string, uint64_t> Client::serving_release() const {
  ServedModel::Snapshot s = serving_.Get();
  return {s.release, s.release_counter};
}

Status Client::OnReleaseOffer(const std::shared_ptr<shared::Connection>& conn,
                              const wire::ReleaseOffer& o) {
  auto job = std::make_shared<ReleaseJob>();
  job->rollout_id = o.rollout_id();
  job->target = o.target()->str();
  job->counter = o.counter();
  job->evaluate = o.evaluate();
  FEDGE_ASSIGN_OR_RETURN(job->digest,
                         shared::DigestField(o.artifact_digest(), "ReleaseOffer.artifact_digest"));
  job->size = o.artifact_size();
  for (const wire::ReleaseFile* f : *o.files()) {
    job->files[f->name()->str()].assign(f->data()->begin(), f->data()->end());
  }
  if (release_job_ && release_job_->rollout_id == job->rollout_id) return Status::Ok();  // busy
  FEDGE_LOG(Info, kLog).Client(id()) << "coordinator offers release " << job->target << " (rollout "
                                     << job->rollout_id << (job->evaluate ? ", canary" : "") << ")";
  if (config_.update.root.empty() &&
      !std::filesystem::exists(config_.state_dir + "/release/trusted.json")) {
    job->error =
        "no trusted root: set [update] root to the root metadata from the startup kit "
        "(1.root.json)";
  } else if (job->size == 0 || job->size > config_.update.max_artifact_bytes) {
    job->error = "artifact of " + std::to_string(job->size) + " bytes is over this client's " +
                 "limit of " + std::to_string(config_.update.max_artifact_bytes) +
                 " bytes ([update] max_artifact_mb)";
  }
  if (!job->error.empty()) {
    StartRelease(std::move(job));  // reports the refusal
    return Status::Ok();
  }
  release_job_ = job;
  net::asio::co_spawn(strand_, CheckOffer(conn, std::move(job)), shared::LogOnError{kLog});
  return Status::Ok();
}

net::awaitable<void> Client::CheckOffer(std::shared_ptr<shared::Connection> conn,
                                        std::shared_ptr<ReleaseJob> job) {
  Result<ReleaseCheck> check = Status::Internal("not checked");
  auto work = [this, &job, &check]() -> Status {
    return trainer_->Exclusive([this, &job, &check](const LocalData& data) {
      MemoryReleaseSource source(job->files, {});
      check = CheckRelease(source, ReleaseOptions(config_, job->target, data));
      return Status::Ok();
    });
  };
  Status s = co_await shared::RunOffThread(compute_, std::move(work));
  if (release_job_ != job) co_return;  // a newer offer replaced it
  if (s.ok()) s = check.status();
  if (s.ok() && !check->up_to_date &&
      (check->target.sha256 != job->digest || check->target.length != job->size)) {
    s = Status::InvalidArgument("the offer's artifact (" + std::to_string(job->size) +
                                " bytes, SHA-256 " + shared::ToHex(job->digest) +
                                ") is not the one the signed targets list for " + job->target +
                                " (" + std::to_string(check->target.length) + " bytes, SHA-256 " +
                                shared::ToHex(check->target.sha256) + ")");
  }
  if (!s.ok() || check->up_to_date) {
    release_job_.reset();
    job->error = s.ok() ? "" : s.message();
    StartRelease(std::move(job));  // reports the refusal, or that it is already installed
    co_return;
  }
  job->checked = true;
  const uint64_t offset = release_download_.active() && release_download_.digest() == job->digest
                              ? release_download_.received()
                              : 0;
  if (offset == 0) release_download_.Reset();
  if (!conn->closed()) {
    conn->Send(shared::MakeBlobRequest(wire::BlobKind::Release, job->digest, offset));
  }
}

Status Client::OnReleaseChunk(const std::shared_ptr<shared::Connection>& conn,
                              const wire::BlobChunk& c) {
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                         shared::DigestField(c.digest(), "BlobChunk.digest"));
  if (!release_job_ || !release_job_->checked || release_job_->digest != digest) {
    return Status::Ok();  // stale, or not asked for yet
  }
  if (c.total_size() != release_job_->size) {
    return Status::InvalidArgument("release artifact chunk says " + std::to_string(c.total_size()) +
                                   " bytes, the offer said " + std::to_string(release_job_->size));
  }
  Status s = release_download_.Append(digest, c.total_size(), c.offset(),
                                      std::span(c.data()->data(), c.data()->size()));
  if (!s.ok()) {
    FEDGE_LOG(Warn, kLog).Client(id()) << "release download failed: " << s.ToString();
    release_download_.Reset();
    std::shared_ptr<ReleaseJob> job = std::move(release_job_);
    job->error = "download failed: " + s.message();
    StartRelease(std::move(job));
    return Status::Ok();
  }
  if (release_download_.complete()) {
    std::shared_ptr<ReleaseJob> job = std::move(release_job_);
    job->artifact = release_download_.Take();
    StartRelease(std::move(job));
  }
  (void)conn;
  return Status::Ok();
}

void Client::OnReleaseRevert(const wire::ReleaseRevert& r) {
  auto job = std::make_shared<ReleaseJob>();
  job->rollout_id = r.rollout_id();
  job->target = r.target()->str();
  job->counter = r.counter();
  job->revert = true;
  job->reason = r.reason() ? r.reason()->str() : "";
  if (r.files() != nullptr) {
    for (const wire::ReleaseFile* f : *r.files()) {
      job->files[f->name()->str()].assign(f->data()->begin(), f->data()->end());
    }
  }
  FEDGE_LOG(Warn, kLog).Client(id())
      << "coordinator rolls back release " << job->target << ": " << job->reason;
  StartRelease(std::move(job));
}

void Client::StartRelease(std::shared_ptr<ReleaseJob> job) {
  net::asio::co_spawn(strand_, DoRelease(std::move(job)), shared::LogOnError{kLog});
}

net::awaitable<void> Client::DoRelease(std::shared_ptr<ReleaseJob> job) {
  if (job->error.empty()) {
    auto work = [this, job]() -> Status {
      return trainer_->Exclusive([this, &job](const LocalData& data) {
        return job->revert ? RevertToPrevious(*job) : InstallRelease(*job, data);
      });
    };
    Status s = co_await shared::RunOffThread(compute_, std::move(work));
    if (!s.ok() && job->error.empty()) job->error = s.message();
  }
  if (job->active_target.empty() && job->active_counter == 0) {
    SlotStore slots(config_.state_dir + "/release");
    if (Result<std::optional<SlotStore::Slot>> a = slots.Active(); a.ok() && a->has_value()) {
      job->active_target = (*a)->target;
      job->active_counter = (*a)->counter;
    }
  }
  FEDGE_LOG(Info, kLog).Client(id()) << "release " << job->target << ": "
                                     << (job->revert ? (job->reverted ? "reverted" : "not reverted")
                                                     : (job->installed ? "installed" : "refused"))
                                     << (job->error.empty() ? "" : " (" + job->error + ")");
  if (!conn_ || conn_->closed()) co_return;  // the coordinator asks again on the next session
  flatbuffers::FlatBufferBuilder fbb(512);
  auto target = fbb.CreateString(job->target);
  auto error = fbb.CreateString(job->error);
  auto previous = fbb.CreateString(job->previous);
  auto active = fbb.CreateString(job->active_target);
  conn_->Send(shared::FinishEnvelope(
      fbb, wire::CreateInstallReport(fbb, job->rollout_id, target, job->counter, job->installed,
                                     job->reverted, error, job->median_latency_ms,
                                     job->eval_examples, job->accuracy, job->previous_accuracy,
                                     previous, active, job->active_counter)));
}

Status Client::InstallRelease(ReleaseJob& job, const LocalData& site) {
  UpdateOptions o = ReleaseOptions(config_, job.target, site);
  const ml::Dataset* data = site.dataset.get();
  ServedModel::Snapshot served = serving_.Get();
  std::shared_ptr<const ml::Model> before = served.model;
  job.previous = served.release;
  MemoryReleaseSource source(std::move(job.files), {{job.target, std::move(job.artifact)}});
  FEDGE_ASSIGN_OR_RETURN(UpdateOutcome out, RunUpdate(source, o));
  job.median_latency_ms = out.median_latency_ms;
  if (!out.error.empty()) {
    job.error = out.error;
    return Status::Ok();
  }
  job.installed = out.installed || out.up_to_date;
  FEDGE_RETURN_IF_ERROR(ServeActiveRelease());
  if (job.evaluate && data != nullptr && !site.eval.empty()) {
    std::shared_ptr<const ml::Model> now = serving_.Get().model;
    FEDGE_ASSIGN_OR_RETURN(ml::EvalResult after, now->Evaluate(*data, site.eval));
    job.accuracy = after.accuracy;
    job.eval_examples = static_cast<uint64_t>(after.examples);
    if (before) {
      FEDGE_ASSIGN_OR_RETURN(ml::EvalResult prev, before->Evaluate(*data, site.eval));
      job.previous_accuracy = prev.accuracy;
    } else {
      job.previous_accuracy = 0;  // nothing served before: any model is an improvement
    }
  }
  return Status::Ok();
}

Status Client::RevertToPrevious(ReleaseJob& job) {
  UpdateOptions o;
  o.state_dir = config_.state_dir;
  o.initial_root_path = config_.update.root;
  o.target = job.target;
  MemoryReleaseSource source(std::move(job.files), {});
  // An older coordinator sends no metadata: the trusted targets decide alone.
  FEDGE_ASSIGN_OR_RETURN(RevertOutcome out, RevertRelease(source.empty() ? nullptr : &source, o));
  job.reverted = out.reverted;
  job.error = out.error;
  job.active_target = out.active_target;
  job.active_counter = out.active_counter;
  return ServeActiveRelease();
}

Status Client::ServeActiveRelease() {
  FEDGE_ASSIGN_OR_RETURN(std::optional<ActiveRelease> active, LoadActiveRelease(config_.state_dir));
  if (active) {
    const uint64_t version = active->registry_version;
    serving_.ServeRelease(std::make_shared<const ml::Model>(std::move(active->model)), version,
                          active->target, active->counter);
    metrics_->model_version->Set(static_cast<double>(version));
    metrics_->release_counter->Set(static_cast<double>(active->counter));
    UseReference(version);
    return Status::Ok();
  }
  if (!serving_.ClearRelease()) return Status::Ok();  // the registry model already
  metrics_->release_counter->Set(0);
  Result<InstalledModel> m = ReadInstalledModel(config_.state_dir);
  if (!m.ok()) return Status::Ok();  // nothing to serve until the next task installs a model
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, cache_->Get(m->digest));
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, shared::DecodeBundle(blob));
  return UpdateServing(m->version, m->arch, state);
}

}  // namespace fedge::client
