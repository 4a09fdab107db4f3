// libFuzzer harness: an untrusted release metadata file (shared/release) through the envelope
// parser and each role's payload decoder, as a site's updater reads them before any signature
// check.
#include <cstdint>
#include <span>

#include "shared/release/envelope.h"
#include "shared/release/metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedge::shared::release;
  auto bytes = std::span<const uint8_t>(data, size);
  auto envelope = Envelope::Parse(bytes, 1 << 20, "fuzz.json");
  if (!envelope.ok()) return 0;
  const std::string& payload = envelope->payload();
  (void)DecodeRoot(payload);
  (void)DecodeTargets(payload);
  (void)DecodeSnapshot(payload);
  (void)DecodeTimestamp(payload);
  (void)envelope->Serialize();
  return 0;
}
