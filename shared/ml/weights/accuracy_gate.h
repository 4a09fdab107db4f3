#pragma once
// The release accuracy gate: a candidate model may replace the current release only if its
// validation accuracy is not too far below the release's on the same validation set.

#include <string>

#include "shared/base/status.h"

namespace fedge::ml {

// Compares accuracies in [0, 1] measured on the same validation set. The drop in points is
// 100 * (current - candidate); the gate passes when drop <= max_drop_points (a candidate that is
// better passes). Returns Ok on a pass and PermissionDenied on a fail, and sets *explanation (if
// not null) to one line saying which, with both accuracies in percent, the drop and the limit,
// e.g. "accuracy gate failed: candidate 86.20% vs current release 88.00%, a drop of 1.80
// points > max drop 1.00". InvalidArgument (explanation untouched) for an accuracy outside [0, 1],
// NaN, or a max_drop_points that is negative or not finite.
shared::Status CheckAccuracyGate(double candidate_accuracy, double current_accuracy,
                                 double max_drop_points, std::string* explanation = nullptr);

}  // namespace fedge::ml
