#pragma once
// How a SampleStore (client/sample_store.h) is opened: its budget, retention and label range.

#include <cstdint>

namespace rocksdb {
class Env;
}

namespace fedge::client {

struct StoreOptions {
  // Sum of stored frame bytes (encoded images, not metadata) the store keeps at most.
  uint64_t disk_budget_bytes = uint64_t{1} << 30;
  // Frames captured longer ago than this are deleted by ApplyRetention(); 0 keeps them.
  int64_t max_age_seconds = 0;
  // The audit log keeps the newest this many entries (older ones are deleted as new ones come).
  uint64_t audit_max_entries = 100000;
  // Labels are class indices in [0, num_classes).
  int num_classes = 10;
  // Replaces RocksDB's default environment (not owned; must outlive the store), e.g. to inject
  // disk faults in tests (shared/storage/fault_env.h). Null: the default environment.
  rocksdb::Env* env = nullptr;
};

}  // namespace fedge::client
