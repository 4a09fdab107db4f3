// libFuzzer harness: a labels file (what `fedge-client labels import` reads) through the parser,
// as CSV, as JSON lines and with the format sniffed from the content. What it accepts must be
// usable as is: a 1-based line in file order and a non-empty frame id; what it refuses must
// say where.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "client/label_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* path : {"labels.csv", "labels.jsonl", "labels"}) {
    auto parsed = fedge::client::ParseLabels(path, text);
    if (!parsed.ok()) {
      if (parsed.status().message().rfind(path, 0) != 0) std::abort();  // names the file
      continue;
    }
    size_t last = 0;
    for (const fedge::client::ParsedLabel& p : *parsed) {
      if (p.frame_id.empty() || p.line <= last) std::abort();
      last = p.line;
    }
  }
  return 0;
}
