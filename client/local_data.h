#pragma once
// The client's private data: its partition of a dataset, split into train and held-out eval.

#include <memory>
#include <vector>

#include "client/config.h"
#include "shared/ml/data/dataset.h"

namespace fedge::client {

struct LocalData {
  std::shared_ptr<const ml::Dataset> dataset;  // may be shared with other in-process clients
  std::vector<int64_t> train;
  std::vector<int64_t> eval;
  std::vector<uint64_t> class_counts;  // of `train`; counts only ever leave the client
  // Capture time of each example of `dataset` (camera frames from the store); empty otherwise.
  std::vector<int64_t> captured_ms;
};

// Loads `settings.dir` (unless `preloaded` is given) and takes partition `settings.index`.
shared::Result<LocalData> LoadLocalData(const DataSettings& settings,
                                        std::shared_ptr<const ml::Dataset> preloaded = nullptr);

}  // namespace fedge::client
