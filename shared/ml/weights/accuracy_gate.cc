#include "shared/ml/weights/accuracy_gate.h"

#include <cmath>
#include <cstdio>

namespace fedge::ml {

shared::Status CheckAccuracyGate(double candidate_accuracy, double current_accuracy,
                                 double max_drop_points, std::string* explanation) {
  auto in_range = [](double a) { return a >= 0 && a <= 1; };  // false for NaN
  if (!in_range(candidate_accuracy) || !in_range(current_accuracy)) {
    return shared::Status::InvalidArgument("accuracy gate: accuracies must be in [0, 1], got " +
                                           std::to_string(candidate_accuracy) + " and " +
                                           std::to_string(current_accuracy));
  }
  if (!std::isfinite(max_drop_points) || max_drop_points < 0) {
    return shared::Status::InvalidArgument(
        "accuracy gate: max_drop_points must be finite and >= 0");
  }
  const double drop = 100.0 * (current_accuracy - candidate_accuracy);
  const bool pass = drop <= max_drop_points;
  char line[200];
  std::snprintf(line, sizeof(line),
                "accuracy gate %s: candidate %.2f%% vs current release %.2f%%, a %s of %.2f "
                "points %s max drop %.2f",
                pass ? "passed" : "failed", 100.0 * candidate_accuracy, 100.0 * current_accuracy,
                drop >= 0 ? "drop" : "gain", std::fabs(drop), pass ? "<=" : ">", max_drop_points);
  if (explanation != nullptr) *explanation = line;
  if (pass) return shared::Status::Ok();
  return shared::Status::PermissionDenied(line);
}

}  // namespace fedge::ml
