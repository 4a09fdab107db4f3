#include "coordinator/wire_in.h"

#include <cmath>

#include "shared/drift/drift_wire.h"
#include "shared/net/wire_text.h"

namespace fedge::coordinator::wire_in {

using shared::Result;
using shared::Status;

namespace {

Status CountInRange(uint64_t count, const char* field) {
  if (count > kMaxExamples) {
    return Status::InvalidArgument(std::string(field) + " " + std::to_string(count) +
                                   " is above the limit of " + std::to_string(kMaxExamples));
  }
  return Status::Ok();
}

Status FiniteInRange(double v, double lo, double hi, const char* field) {
  if (!std::isfinite(v) || v < lo || v > hi) {
    return Status::InvalidArgument(std::string(field) + " is " + std::to_string(v) +
                                   ", not a finite number in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "]");
  }
  return Status::Ok();
}

}  // namespace

Result<HelloIn> ReadHello(const wire::Hello& hello) {
  HelloIn in;
  FEDGE_RETURN_IF_ERROR(CountInRange(hello.train_examples(), "Hello.train_examples"));
  FEDGE_RETURN_IF_ERROR(CountInRange(hello.eval_examples(), "Hello.eval_examples"));
  in.info.train_examples = hello.train_examples();
  in.info.eval_examples = hello.eval_examples();
  FEDGE_ASSIGN_OR_RETURN(
      in.info.class_counts,
      shared::WireScalars(hello.class_counts(), kMaxClasses, "Hello.class_counts"));
  for (uint64_t c : in.info.class_counts) {
    FEDGE_RETURN_IF_ERROR(CountInRange(c, "Hello.class_counts entry"));
  }
  FEDGE_ASSIGN_OR_RETURN(
      in.release_target,
      shared::WireString(hello.release_target(), kMaxNameBytes, "Hello.release_target"));
  in.release_counter = in.release_target.empty() ? 0 : hello.release_counter();
  return in;
}

Result<UpdateIn> ReadUpdateSubmit(const wire::UpdateSubmit& submit) {
  UpdateIn u;
  u.task_id = submit.task_id();
  u.round = submit.round();
  FEDGE_ASSIGN_OR_RETURN(u.idempotency_id,
                         shared::WireString(submit.idempotency_id(), kMaxIdBytes,
                                            "UpdateSubmit.idempotency_id", /*required=*/true));
  if (submit.example_count() == 0) {
    return Status::InvalidArgument("UpdateSubmit.example_count is 0; an update trains on data");
  }
  FEDGE_RETURN_IF_ERROR(CountInRange(submit.example_count(), "UpdateSubmit.example_count"));
  u.examples = submit.example_count();
  FEDGE_ASSIGN_OR_RETURN(u.metrics, shared::WireKeyValues(submit.metrics(), kMaxMetrics,
                                                          kMaxNameBytes, "UpdateSubmit.metrics"));
  for (const auto& [key, value] : u.metrics) {
    // The loss is summed times the example count: bounded so that the sum stays finite.
    if (key == "loss") FEDGE_RETURN_IF_ERROR(FiniteInRange(value, 0, 1e6, "UpdateSubmit loss"));
  }
  return u;
}

Result<EvalIn> ReadEvalReport(const wire::EvalReport& report) {
  EvalIn e;
  e.task_id = report.task_id();
  e.round = report.round();
  e.model_version = report.model_version();
  FEDGE_RETURN_IF_ERROR(CountInRange(report.example_count(), "EvalReport.example_count"));
  e.examples = report.example_count();
  FEDGE_RETURN_IF_ERROR(FiniteInRange(report.loss(), 0, 1e6, "EvalReport.loss"));
  e.loss = report.loss();
  const uint32_t k = report.num_classes();
  if (k == 0 || k > kMaxClasses) {
    return Status::InvalidArgument("EvalReport.num_classes is " + std::to_string(k) +
                                   "; expected 1 to " + std::to_string(kMaxClasses));
  }
  e.num_classes = k;
  const size_t cells = static_cast<size_t>(k) * k;
  FEDGE_ASSIGN_OR_RETURN(e.confusion,
                         shared::WireScalars(report.confusion(), cells, "EvalReport.confusion"));
  if (e.confusion.size() != cells) {
    return Status::InvalidArgument("EvalReport.confusion has " +
                                   std::to_string(e.confusion.size()) + " cells; " +
                                   std::to_string(k) + " classes need " + std::to_string(cells));
  }
  uint64_t sum = 0;  // at most 10^6 cells of at most kMaxExamples: no overflow
  for (uint64_t c : e.confusion) {
    FEDGE_RETURN_IF_ERROR(CountInRange(c, "EvalReport.confusion cell"));
    sum += c;
  }
  if (sum != e.examples) {
    return Status::InvalidArgument("EvalReport.confusion sums to " + std::to_string(sum) +
                                   " but example_count is " + std::to_string(e.examples));
  }
  if (report.profile() != nullptr) {
    Result<drift::Summary> profile = drift::FromWire(*report.profile());
    if (!profile.ok()) return profile.status().WithContext("EvalReport.profile");
    e.profile = std::move(*profile);
  }
  return e;
}

Result<DriftReportIn> ReadDriftReport(const wire::DriftReport& report) {
  DriftReportIn r;
  FEDGE_ASSIGN_OR_RETURN(r.summary, drift::FromWire(*report.summary()));
  r.model_version = report.model_version();
  r.window = report.window();
  r.score = report.score();
  FEDGE_ASSIGN_OR_RETURN(r.top_feature, shared::WireString(report.top_feature(), kMaxNameBytes,
                                                           "DriftReport.top_feature"));
  r.over_threshold = report.over_threshold();
  r.alarm = report.alarm();
  r.drifted = report.drifted();
  r.detector = report.detector();
  FEDGE_ASSIGN_OR_RETURN(r.distances,
                         shared::WireKeyValues(report.distances(), kMaxMetrics, kMaxNameBytes,
                                               "DriftReport.distances"));
  r.onset_ms = report.onset_ms();
  r.captured_ms = report.captured_ms();
  return r;
}

Result<InstallReportIn> ReadInstallReport(const wire::InstallReport& r) {
  InstallReportIn in;
  in.rollout_id = r.rollout_id();
  FEDGE_ASSIGN_OR_RETURN(
      in.target, shared::WireString(r.target(), kMaxNameBytes, "InstallReport.target", true));
  in.counter = r.counter();
  in.installed = r.installed();
  in.reverted = r.reverted();
  in.error = shared::WireFreeText(r.error(), kMaxFreeTextBytes);
  FEDGE_RETURN_IF_ERROR(
      FiniteInRange(r.median_latency_ms(), 0, 1e9, "InstallReport.median_latency_ms"));
  in.median_latency_ms = r.median_latency_ms();
  FEDGE_RETURN_IF_ERROR(CountInRange(r.eval_examples(), "InstallReport.eval_examples"));
  in.eval_examples = r.eval_examples();
  FEDGE_RETURN_IF_ERROR(FiniteInRange(r.accuracy(), 0, 1, "InstallReport.accuracy"));
  in.accuracy = r.accuracy();
  FEDGE_RETURN_IF_ERROR(
      FiniteInRange(r.previous_accuracy(), 0, 1, "InstallReport.previous_accuracy"));
  in.previous_accuracy = r.previous_accuracy();
  FEDGE_ASSIGN_OR_RETURN(in.previous,
                         shared::WireString(r.previous(), kMaxNameBytes, "InstallReport.previous"));
  FEDGE_ASSIGN_OR_RETURN(in.active_target, shared::WireString(r.active_target(), kMaxNameBytes,
                                                              "InstallReport.active_target"));
  in.active_counter = r.active_counter();
  return in;
}

std::string ReadPeerError(const wire::Error& error) {
  return shared::WireFreeText(error.message(), kMaxFreeTextBytes);
}

}  // namespace fedge::coordinator::wire_in
