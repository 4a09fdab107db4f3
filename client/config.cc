#include "client/config.h"

#include <limits>

#include "shared/config.h"

namespace fedge::client {

using shared::ConfigFile;
using shared::Result;
using shared::Status;

Result<ClientConfig> LoadClientConfig(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(ConfigFile file, ConfigFile::Load(path));
  FEDGE_RETURN_IF_ERROR(file.CheckKnownKeys(
      {"coordinator.host", "coordinator.port", "coordinator.max_frame_bytes",
       "coordinator.reconnect_initial_ms", "coordinator.reconnect_max_ms",
       "coordinator.connect_timeout_ms", "tls.ca", "tls.cert", "tls.key", "data.dir",
       "data.partition", "data.alpha", "data.shards_per_client", "data.num_partitions",
       "data.index", "data.seed", "data.holdout_fraction", "storage.dir", "training.threads"}));
  ClientConfig c;
  c.config_path = path;
  FEDGE_ASSIGN_OR_RETURN(c.host, file.String("coordinator.host"));
  FEDGE_ASSIGN_OR_RETURN(int64_t port, file.Int("coordinator.port", std::nullopt, 1, 65535));
  c.port = static_cast<uint16_t>(port);
  FEDGE_ASSIGN_OR_RETURN(int64_t frame,
                         file.Int("coordinator.max_frame_bytes", 16 << 20, 64 << 10, 1 << 30));
  c.max_frame_bytes = static_cast<uint32_t>(frame);
  FEDGE_ASSIGN_OR_RETURN(int64_t r0, file.Int("coordinator.reconnect_initial_ms", 500, 10, 600000));
  FEDGE_ASSIGN_OR_RETURN(int64_t r1, file.Int("coordinator.reconnect_max_ms", 30000, 10, 3600000));
  FEDGE_ASSIGN_OR_RETURN(int64_t ct, file.Int("coordinator.connect_timeout_ms", 10000, 10, 600000));
  c.reconnect_initial_ms = static_cast<int>(r0);
  c.reconnect_max_ms = static_cast<int>(std::max(r0, r1));
  c.connect_timeout_ms = static_cast<int>(ct);
  FEDGE_ASSIGN_OR_RETURN(c.tls.ca, file.Path("tls.ca"));
  FEDGE_ASSIGN_OR_RETURN(c.tls.cert, file.Path("tls.cert"));
  FEDGE_ASSIGN_OR_RETURN(c.tls.key, file.Path("tls.key"));

  DataSettings& d = c.data;
  FEDGE_ASSIGN_OR_RETURN(d.dir, file.Path("data.dir", d.dir));
  FEDGE_ASSIGN_OR_RETURN(d.partition, file.String("data.partition", "iid"));
  if (d.partition != "iid" && d.partition != "dirichlet" && d.partition != "shards") {
    return Status::InvalidArgument(path + ": key 'data.partition': '" + d.partition +
                                   "' is not one of iid, dirichlet, shards");
  }
  FEDGE_ASSIGN_OR_RETURN(d.alpha, file.Double("data.alpha", 0.5, 1e-6, 1e6));
  FEDGE_ASSIGN_OR_RETURN(int64_t spc, file.Int("data.shards_per_client", 2, 1, 1000));
  FEDGE_ASSIGN_OR_RETURN(int64_t parts, file.Int("data.num_partitions", 1, 1, 100000));
  FEDGE_ASSIGN_OR_RETURN(int64_t index, file.Int("data.index", 0, 0, parts - 1));
  FEDGE_ASSIGN_OR_RETURN(int64_t seed,
                         file.Int("data.seed", 0, 0, std::numeric_limits<int64_t>::max()));
  FEDGE_ASSIGN_OR_RETURN(d.holdout_fraction, file.Double("data.holdout_fraction", 0.1, 0.0, 0.9));
  d.shards_per_client = static_cast<int>(spc);
  d.num_partitions = static_cast<int>(parts);
  d.index = static_cast<int>(index);
  d.seed = static_cast<uint64_t>(seed);
  FEDGE_ASSIGN_OR_RETURN(c.state_dir, file.Path("storage.dir", "state"));
  FEDGE_ASSIGN_OR_RETURN(int64_t threads, file.Int("training.threads", 2, 1, 256));
  c.threads = static_cast<int>(threads);
  return c;
}

}  // namespace fedge::client
