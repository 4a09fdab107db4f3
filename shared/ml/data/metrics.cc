#include "shared/ml/data/metrics.h"

#include <algorithm>

namespace fedge::ml {

EvalResult MetricsFromConfusion(std::vector<int64_t> confusion, int num_classes,
                                double total_loss_sum) {
  EvalResult r;
  r.num_classes = std::max(num_classes, 0);
  const auto k = static_cast<size_t>(r.num_classes);
  if (k == 0 || confusion.size() != k * k ||
      std::any_of(confusion.begin(), confusion.end(), [](int64_t v) { return v < 0; })) {
    return r;
  }
  std::vector<int64_t> row_sum(k, 0), col_sum(k, 0);
  int64_t correct = 0;
  for (size_t t = 0; t < k; ++t) {
    for (size_t p = 0; p < k; ++p) {
      const int64_t v = confusion[t * k + p];
      row_sum[t] += v;
      col_sum[p] += v;
      r.examples += v;
    }
    correct += confusion[t * k + t];
  }
  r.precision.assign(k, 0.0);
  r.recall.assign(k, 0.0);
  double f1_sum = 0;
  int present = 0;
  for (size_t c = 0; c < k; ++c) {
    const auto tp = static_cast<double>(confusion[c * k + c]);
    if (col_sum[c] > 0) r.precision[c] = tp / static_cast<double>(col_sum[c]);
    if (row_sum[c] > 0) r.recall[c] = tp / static_cast<double>(row_sum[c]);
    if (row_sum[c] == 0 && col_sum[c] == 0) continue;  // class absent: F1 undefined, skipped
    ++present;
    const double pr = r.precision[c] + r.recall[c];
    if (pr > 0) f1_sum += 2.0 * r.precision[c] * r.recall[c] / pr;
  }
  if (r.examples > 0) {
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.examples);
    r.loss = total_loss_sum / static_cast<double>(r.examples);
  }
  if (present > 0) r.macro_f1 = f1_sum / present;
  r.confusion = std::move(confusion);
  return r;
}

}  // namespace fedge::ml
