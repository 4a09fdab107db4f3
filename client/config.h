#pragma once
// client.toml: coordinator address, TLS files, private data, local state.

#include <cstdint>
#include <string>

#include "shared/status.h"
#include "shared/tls.h"

namespace fedge::client {

struct DataSettings {
  std::string dir = "/usr/share/datasets/fashion-mnist";
  std::string partition = "dirichlet";  // iid | dirichlet | shards
  double alpha = 0.5;
  int shards_per_client = 2;
  int num_partitions = 1;
  int index = 0;
  uint64_t seed = 0;
  double holdout_fraction = 0.1;
};

struct ClientConfig {
  std::string config_path;
  std::string host = "localhost";
  uint16_t port = 7443;
  shared::TlsFiles tls;
  DataSettings data;
  std::string state_dir;
  uint32_t max_frame_bytes = 16u << 20;
  int threads = 2;                 // LibTorch threads for training and evaluation
  int reconnect_initial_ms = 500;  // exponential backoff with jitter between reconnects
  int reconnect_max_ms = 30000;
  int connect_timeout_ms = 10000;
};

shared::Result<ClientConfig> LoadClientConfig(const std::string& path);

}  // namespace fedge::client
