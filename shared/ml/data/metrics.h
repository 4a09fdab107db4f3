#pragma once
// Classification metrics from a confusion matrix. Plain code (no LibTorch): part of
// fedge_ml_data, so the coordinator can merge federated evaluations without loading torch.
// model.h includes this header.

#include <cstdint>
#include <vector>

namespace fedge::ml {

struct EvalResult {
  int64_t examples = 0;
  double loss = 0;  // mean cross-entropy per example
  double accuracy = 0;
  int num_classes = 0;
  std::vector<int64_t> confusion;         // num_classes^2, row = true class, col = predicted
  std::vector<double> precision, recall;  // per class (0 when undefined)
  double macro_f1 = 0;  // mean F1 over classes that occur as true or predicted class
};

// Computes examples, mean loss (total_loss_sum / examples), accuracy, per-class precision and
// recall and macro-F1 from a confusion matrix. Plain code; the coordinator also uses it to merge
// federated evaluations (sum confusions and loss sums, then call this).
// REQUIRES: num_classes >= 1, confusion.size() == num_classes^2, entries >= 0. Otherwise the
// result has examples == 0 and an empty confusion (callers validate untrusted input first).
EvalResult MetricsFromConfusion(std::vector<int64_t> confusion, int num_classes,
                                double total_loss_sum);

}  // namespace fedge::ml
