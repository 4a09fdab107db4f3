// libFuzzer harness: a byte stream through the incremental frame decoder, fed in pieces whose
// sizes come from the input, then every complete frame through the envelope verifier.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "shared/net/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedge::shared;
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 64;  // feed in pieces of 1..64 bytes
  FrameDecoder decoder(/*max_bytes=*/1 << 16);
  size_t fed = 0;
  for (size_t off = 1; off < size; off += step) {
    const size_t n = std::min(step, size - off);
    if (!decoder.Feed(std::span<const uint8_t>(data + off, n)).ok()) break;
    fed += n;
    for (const auto& frame : decoder.TakeFrames()) {
      if (frame.empty() || frame.size() > (1u << 16)) std::abort();
      (void)VerifyEnvelope(frame);
    }
  }
  if (decoder.pending_bytes() > fed) std::abort();
  return 0;
}
