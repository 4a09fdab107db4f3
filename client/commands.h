#pragma once
// fedge-client's subcommands other than `run`, for data owners on site. Each prints what it
// did and returns a process exit code (0 ok, 1 failure with a message on stderr).

#include <atomic>
#include <cstdint>
#include <string>

namespace fedge::client {

struct InferCommand {
  std::string config_path;  // may be empty when model_path and arch are given
  std::string source;       // empty: camera.source from the config
  std::string model_path;   // a tensor bundle (.fdgt); empty: the installed model
  std::string arch;         // with model_path
  std::string sink;         // empty: inference.predictions or <state>/predictions.jsonl
  uint64_t max_frames = 0;
  double fps = -1;          // < 0: camera.fps from the config
  bool keep_frames = true;  // and camera.keep_frames
  int threads = 0;          // 0: training.threads from the config (or 2)
  // When set and true, stops reading frames; the summary is printed as at the source's end.
  const std::atomic<bool>* stop = nullptr;
};
int RunInferCommand(const InferCommand& command);
// Verifies and installs the newest signed release from `repo` (or [update] repo) into an A/B
// slot (client/updater.h) and prints the outcome (also kept in <state>/release/status.json).
// Exit 0 when installed or already up to date, 1 when refused.
int RunUpdateCommand(const std::string& config_path, const std::string& repo);

int RunLabelsImport(const std::string& config_path, const std::string& file);
// what: stats | purge | review | quarantine | retention
int RunStoreCommand(const std::string& config_path, const std::string& what, uint64_t count);
int RunAuditCommand(const std::string& config_path, uint64_t last);

}  // namespace fedge::client
