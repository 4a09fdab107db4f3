#include "client/commands.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "client/config.h"
#include "client/inference.h"
#include "client/label_import.h"
#include "client/metrics.h"
#include "client/model_cache.h"
#include "client/sample_store.h"
#include "client/serving.h"
#include "client/updater.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/torch/runtime.h"
#include "shared/net/wire.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "fedge-client: %s\n", s.message().c_str());
  return 1;
}

Result<std::unique_ptr<SampleStore>> OpenStore(const ClientConfig& c) {
  return SampleStore::Open(StoreDir(c), StoreOptionsOf(c));
}

// The model to run: --model/--arch, or the one the client installed last. `version` is what
// the model_version metric shows (a release's counter), `registry_version` what the prediction
// lines show (the registry version the model is, or a release was built from; 0: unknown).
Result<ml::Model> LoadModel(const InferCommand& cmd, const std::optional<ClientConfig>& config,
                            std::string* described, uint64_t* version, uint64_t* registry_version) {
  std::vector<uint8_t> blob;
  std::string arch = cmd.arch;
  if (!cmd.model_path.empty()) {
    if (arch.empty()) return Status::InvalidArgument("--model needs --arch (e.g. cnn_color)");
    FEDGE_ASSIGN_OR_RETURN(blob, shared::ReadFile(cmd.model_path, 1u << 30));
    *described = cmd.model_path;
  } else {
    if (!config) return Status::InvalidArgument("give --config, or --model FILE --arch ARCH");
    // A verified, health-checked release in the active slot comes first (client/updater.h).
    FEDGE_ASSIGN_OR_RETURN(std::optional<ActiveRelease> release,
                           LoadActiveRelease(config->state_dir));
    if (release) {
      *version = release->counter;
      *registry_version = release->registry_version;
      *described = "release " + release->target + " (counter " + std::to_string(release->counter) +
                   ", slot " + release->slot + ", " + release->model.arch() + ")";
      return std::move(release->model);
    }
    FEDGE_ASSIGN_OR_RETURN(InstalledModel installed, ReadInstalledModel(config->state_dir));
    FEDGE_ASSIGN_OR_RETURN(ModelCache cache, ModelCache::Open(config->state_dir, 1ull << 31));
    FEDGE_ASSIGN_OR_RETURN(blob, cache.Get(installed.digest));
    arch = installed.arch;
    *version = installed.version;
    *registry_version = installed.version;
    *described = "installed model version " + std::to_string(installed.version) + " (" + arch + ")";
  }
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle state, shared::DecodeBundle(blob));
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, ml::Model::Create(arch, 0));
  FEDGE_RETURN_IF_ERROR(model.LoadState(state));
  return model;
}

// The store `infer` keeps frames in, or null (not wanted, or held by `fedge-client run`).
std::unique_ptr<SampleStore> StoreToKeepFrames(const InferCommand& cmd,
                                               const std::optional<ClientConfig>& config) {
  if (!config || !cmd.keep_frames || !config->camera.keep_frames) return nullptr;
  Result<std::unique_ptr<SampleStore>> s = OpenStore(*config);
  if (s.ok()) return std::move(*s);
  std::fprintf(stderr, "fedge-client: not keeping frames: %s\n", s.status().message().c_str());
  return nullptr;
}

// --sink, else the config's inference.predictions, else predictions.jsonl.
std::string SinkPath(const InferCommand& cmd, const std::optional<ClientConfig>& config) {
  if (!cmd.sink.empty()) return cmd.sink;
  if (!config) return "predictions.jsonl";
  return config->predictions_path.empty() ? config->state_dir + "/predictions.jsonl"
                                          : config->predictions_path;
}

void PrintSummary(const InferenceSummary& s) {
  std::printf("frames %llu (unreadable %llu, kept %llu) in %.2f s: %.1f frames/s\n",
              static_cast<unsigned long long>(s.frames),
              static_cast<unsigned long long>(s.unreadable),
              static_cast<unsigned long long>(s.stored), s.seconds, s.fps);
  if (s.not_kept > 0) {
    std::printf(
        "  %llu frames were not kept: the sample store failed to save them (see the log; "
        "a full disk?)\n",
        static_cast<unsigned long long>(s.not_kept));
  }
  auto row = [](const char* name, const LatencyStats& l) {
    std::printf("  %-10s p50 %7.3f  p95 %7.3f  p99 %7.3f  mean %7.3f  max %7.3f ms\n", name, l.p50,
                l.p95, l.p99, l.mean, l.max);
  };
  row("capture", s.capture);
  row("preprocess", s.preprocess);
  row("inference", s.inference);
  row("total", s.total);
}

}  // namespace

int RunUpdateCommand(const std::string& config_path, const std::string& repo) {
  Result<ClientConfig> config = LoadClientConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  const std::string dir = repo.empty() ? config->update.repo : repo;
  if (dir.empty()) return Fail(Status::InvalidArgument("give --repo DIR or set [update] repo"));
  ml::ConfigureRuntime(config->threads);
  UpdateOptions o;
  o.state_dir = config->state_dir;
  o.initial_root_path = config->update.root;
  o.max_artifact_bytes = config->update.max_artifact_bytes;
  o.latency_budget_ms = config->update.latency_budget_ms;
  o.health_frames = config->update.health_frames;
  // The input shape this site runs: that of the model it serves (a release, or the newest
  // registry model it installed); Fashion-MNIST's 1x28x28 before it ever had one.
  std::optional<ml::Model> serving;
  if (Result<std::optional<ActiveRelease>> r = LoadActiveRelease(config->state_dir);
      r.ok() && r->has_value()) {
    serving.emplace(std::move((*r)->model));
  } else if (Result<InstalledModel> m = ReadInstalledModel(config->state_dir); m.ok()) {
    if (Result<ml::Model> created = ml::Model::Create(m->arch, 0); created.ok()) {
      serving.emplace(std::move(*created));
    }
  }
  if (serving) {
    o.input_shape = {static_cast<uint32_t>(serving->input_channels()),
                     static_cast<uint32_t>(serving->input_height()),
                     static_cast<uint32_t>(serving->input_width())};
  }
  DirectoryReleaseSource source(dir);
  Result<UpdateOutcome> out = RunUpdate(source, o);
  if (!out.ok()) return Fail(out.status());
  std::printf("%s\n", UpdateOutcomeJson(*out).c_str());
  if (!out->error.empty()) {
    std::fprintf(stderr, "fedge-client: update refused, still running slot %s: %s\n",
                 out->slot.empty() ? "(none)" : out->slot.c_str(), out->error.c_str());
    return 1;
  }
  return 0;
}

int RunInferCommand(const InferCommand& cmd) {
  std::optional<ClientConfig> config;
  if (!cmd.config_path.empty()) {
    Result<ClientConfig> c = LoadClientConfig(cmd.config_path);
    if (!c.ok()) return Fail(c.status());
    config = std::move(*c);
  }
  ml::ConfigureRuntime(cmd.threads > 0 ? cmd.threads : config ? config->threads : 2);
  std::string described;
  uint64_t version = 0, registry_version = 0;  // 0: a --model file
  Result<ml::Model> model = LoadModel(cmd, config, &described, &version, &registry_version);
  if (!model.ok()) return Fail(model.status());
  SourceOptions so;
  so.uri = !cmd.source.empty() ? cmd.source : config ? config->camera.source : "";
  if (so.uri.empty())
    return Fail(Status::InvalidArgument("no source: give --source or camera.source"));
  if (config) {
    so.name = config->camera.name;
    so.fps = config->camera.fps;
    so.width = config->camera.width;
    so.height = config->camera.height;
  }
  if (cmd.fps >= 0) so.fps = cmd.fps;
  Result<std::unique_ptr<FrameSource>> source = OpenFrameSource(so);
  if (!source.ok()) return Fail(source.status());
  std::unique_ptr<SampleStore> store = StoreToKeepFrames(cmd, config);
  const std::string sink_path = SinkPath(cmd, config);
  std::ofstream sink(sink_path, std::ios::app);
  if (!sink) return Fail(Status::IOError("cannot open the prediction sink " + sink_path));
  std::printf("inferring on %s with %s; predictions to %s\n", (*source)->Describe().c_str(),
              described.c_str(), sink_path.c_str());
  InferenceOptions options;
  options.max_frames = cmd.max_frames;
  options.quarantine = store.get();
  options.num_classes = static_cast<size_t>(model->num_classes());
  KeepFailures not_kept;  // one count (and one warning) for a full disk, loop and classifier
  options.keep_failures = &not_kept;
  ModelClassifier::Options classify;
  classify.model_version = registry_version;
  classify.keep = store.get();
  classify.keep_failures = &not_kept;
  if (config) classify.frame_format = config->camera.frame_format;
  std::unique_ptr<shared::HttpServer> endpoint;  // [metrics] enabled: served while inferring
  if (config && config->metrics.enabled) {
    auto metrics = std::make_shared<ClientMetrics>(std::make_shared<shared::MetricsRegistry>());
    metrics->model_version->Set(static_cast<double>(version));
    Result<std::unique_ptr<shared::HttpServer>> served =
        ServeMetrics(metrics, config->metrics, config->config_path);
    if (!served.ok()) return Fail(served.status());
    endpoint = std::move(*served);
    options.metrics = metrics;
    classify.metrics = metrics;
  }
  ModelClassifier classifier(*model, classify);
  Result<InferenceSummary> summary = RunInference(**source, classifier, &sink, options, cmd.stop);
  if (!summary.ok()) return Fail(summary.status());
  PrintSummary(*summary);
  return 0;
}

int RunLabelsImport(const std::string& config_path, const std::string& file) {
  Result<ClientConfig> config = LoadClientConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  Result<std::unique_ptr<SampleStore>> store = OpenStore(*config);
  if (!store.ok()) return Fail(store.status());
  Result<LabelImportSummary> s = ImportLabels(**store, file);
  if (!s.ok()) return Fail(s.status());
  std::printf(
      "%s: %llu lines, %llu frames labelled, %llu quarantined (label out of range), "
      "%llu skipped (frame quarantined)\nper class:",
      file.c_str(), static_cast<unsigned long long>(s->lines_read),
      static_cast<unsigned long long>(s->labels_set),
      static_cast<unsigned long long>(s->quarantined),
      static_cast<unsigned long long>(s->skipped_quarantined));
  for (uint64_t c : s->class_counts) std::printf(" %llu", static_cast<unsigned long long>(c));
  std::printf("\n");
  return 0;
}

int RunStoreCommand(const std::string& config_path, const std::string& what, uint64_t count) {
  Result<ClientConfig> config = LoadClientConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  Result<std::unique_ptr<SampleStore>> opened = OpenStore(*config);
  if (!opened.ok()) return Fail(opened.status());
  SampleStore& store = **opened;
  if (what == "purge") {
    if (Status s = store.Purge(); !s.ok()) return Fail(s);
    std::printf(
        "purged every frame, label and quarantine entry in %s (the audit log and the "
        "outbox are kept)\n",
        StoreDir(*config).c_str());
  } else if (what == "retention") {
    if (Status s = store.ApplyRetention(static_cast<int64_t>(shared::UnixMillis())); !s.ok()) {
      return Fail(s);
    }
    std::printf("applied store.max_age_days\n");
  } else if (what == "review") {
    Result<std::vector<ReviewItem>> items = store.ReviewQueue(count);
    if (!items.ok()) return Fail(items.status());
    for (const ReviewItem& r : *items) {
      std::printf("%s\tpredicted %d\tconfidence %.4f\n", r.id.c_str(), r.predicted, r.confidence);
    }
  } else if (what == "quarantine") {
    Result<std::vector<QuarantineItem>> items = store.Quarantined();
    if (!items.ok()) return Fail(items.status());
    for (const QuarantineItem& q : *items) std::printf("%s\t%s\n", q.id.c_str(), q.reason.c_str());
  }
  Result<StoreStats> st = store.Stats();
  if (!st.ok()) return Fail(st.status());
  std::printf(
      "store %s: %llu frames, %llu of %llu bytes, %llu labelled, %llu quarantined, %llu "
      "updates waiting, %llu audit entries\n",
      StoreDir(*config).c_str(), static_cast<unsigned long long>(st->frames),
      static_cast<unsigned long long>(st->stored_bytes),
      static_cast<unsigned long long>(st->budget_bytes),
      static_cast<unsigned long long>(st->labelled),
      static_cast<unsigned long long>(st->quarantined),
      static_cast<unsigned long long>(st->outgoing),
      static_cast<unsigned long long>(st->audit_entries));
  return 0;
}

int RunAuditCommand(const std::string& config_path, uint64_t last) {
  Result<ClientConfig> config = LoadClientConfig(config_path);
  if (!config.ok()) return Fail(config.status());
  Result<std::unique_ptr<SampleStore>> store = OpenStore(*config);
  if (!store.ok()) return Fail(store.status());
  Result<std::vector<AuditEntry>> entries = (*store)->Audit(last);
  if (!entries.ok()) return Fail(entries.status());
  for (const AuditEntry& e : *entries) std::printf("%s\n", ToJsonLine(e).c_str());
  return 0;
}

}  // namespace fedge::client
