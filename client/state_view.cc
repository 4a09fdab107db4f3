#include "client/state_view.h"

#include <mutex>

#include "client/store_db.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

Status StateView::Put(const std::string& key, const std::vector<uint8_t>& bytes) {
  if (key.empty()) return Status::InvalidArgument("state key must not be empty");
  std::lock_guard<std::mutex> lock(db_.mu);
  rocksdb::WriteBatch b;
  b.Put(db_.cf(store::kState), key, store::AsSlice(bytes));
  return db_.Write(&b, /*sync=*/true, "storing state '" + key + "'");
}

Result<std::optional<std::vector<uint8_t>>> StateView::Get(const std::string& key) {
  std::lock_guard<std::mutex> lock(db_.mu);
  FEDGE_ASSIGN_OR_RETURN(auto v, db_.Get(store::kState, key, "reading state '" + key + "'"));
  if (!v) return std::optional<std::vector<uint8_t>>();
  return std::optional<std::vector<uint8_t>>(store::ToBytes(*v));
}

}  // namespace fedge::client
