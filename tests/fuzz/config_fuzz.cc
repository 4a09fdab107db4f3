// libFuzzer harness: an untrusted TOML config file (shared/base/config.h) and the typed reads
// every program's loader makes from it.
#include <cstdint>
#include <string>

#include "shared/base/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedge::shared;
  auto file =
      ConfigFile::Parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  if (!file.ok()) return 0;
  (void)file->CheckKnownKeys({"server.port", "server.listen", "rounds.min_fit", "rounds.seed",
                              "rounds.fraction_fit", "rounds.evaluate", "tls.ca", "sim.clients"});
  (void)file->Int("server.port", 7443, 0, 65535);
  (void)file->Int("rounds.seed", 0, 0, INT64_MAX);
  (void)file->String("server.listen", "0.0.0.0");
  (void)file->Double("rounds.fraction_fit", 1.0, 1e-6, 1.0);
  (void)file->Bool("rounds.evaluate", true);
  (void)file->Path("tls.ca", "ca.crt");
  (void)file->IntList("sim.clients", std::vector<int64_t>{}, 0, 1000);
  return 0;
}
