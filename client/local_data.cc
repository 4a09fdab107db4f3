#include "client/local_data.h"

#include "shared/ml/data/partition.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

Result<LocalData> LoadLocalData(const DataSettings& s,
                                std::shared_ptr<const ml::Dataset> preloaded) {
  LocalData out;
  if (preloaded) {
    out.dataset = std::move(preloaded);
  } else {
    FEDGE_ASSIGN_OR_RETURN(ml::Dataset d, ml::LoadFashionMnist(s.dir, ml::Split::kTrain));
    out.dataset = std::make_shared<const ml::Dataset>(std::move(d));
  }
  const ml::Dataset& d = *out.dataset;
  std::vector<std::vector<int64_t>> parts;
  if (s.partition == "iid") {
    parts = ml::PartitionIid(d.size, s.num_partitions, s.seed);
  } else if (s.partition == "dirichlet") {
    parts = ml::PartitionDirichlet(d.labels, d.num_classes, s.num_partitions, s.alpha, s.seed);
  } else if (s.partition == "shards") {
    parts = ml::PartitionShards(d.labels, s.num_partitions, s.shards_per_client, s.seed);
  } else {
    return Status::InvalidArgument("unknown partition '" + s.partition + "'");
  }
  if (s.index < 0 || s.index >= static_cast<int>(parts.size())) {
    return Status::InvalidArgument("partition index " + std::to_string(s.index) + " out of range");
  }
  ml::HoldoutSplit split = ml::SplitHoldout(parts[s.index], s.holdout_fraction, s.seed + 7919);
  out.train = std::move(split.train);
  out.eval = std::move(split.eval);
  out.class_counts.assign(d.num_classes, 0);
  for (int64_t i : out.train) ++out.class_counts[d.labels[i]];
  if (out.train.empty()) {
    return Status::InvalidArgument("partition " + std::to_string(s.index) +
                                   " has no training examples");
  }
  return out;
}

}  // namespace fedge::client
