// libFuzzer harness: any bytes as one frame payload from a client, through the envelope
// verifier and the coordinator's trust boundary (coordinator/wire_in.h). Besides the sanitizers'
// findings, it checks the boundary's promise: whatever it lets through can be stored as JSON
// (no invalid UTF-8) and summed (counts within their bounds).
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <span>

#include "coordinator/wire_in.h"
#include "shared/net/frame.h"

namespace {

using namespace fedge;

void Check(bool ok) {
  if (!ok) std::abort();  // a broken promise of the boundary: a finding
}

// Dumping throws on invalid UTF-8 (nlohmann's default): the boundary must have refused it.
void Storable(const std::string& text) { (void)nlohmann::json(text).dump(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto env = shared::VerifyEnvelope(std::span<const uint8_t>(data, size));
  if (!env.ok()) return 0;
  namespace in = coordinator::wire_in;
  const wire::Envelope& e = **env;
  switch (e.message_type()) {
    case wire::Message::Hello:
      if (auto h = in::ReadHello(*e.message_as_Hello()); h.ok()) {
        Storable(h->release_target);
        Check(h->info.train_examples <= in::kMaxExamples);
        Check(h->info.class_counts.size() <= in::kMaxClasses);
      }
      break;
    case wire::Message::UpdateSubmit:
      if (auto u = in::ReadUpdateSubmit(*e.message_as_UpdateSubmit()); u.ok()) {
        Storable(u->idempotency_id);
        Check(!u->idempotency_id.empty() && u->idempotency_id.size() <= in::kMaxIdBytes);
        Check(u->examples >= 1 && u->examples <= in::kMaxExamples);
        Check(u->metrics.size() <= in::kMaxMetrics);
        for (const auto& [k, v] : u->metrics) Storable(k);
      }
      break;
    case wire::Message::EvalReport:
      if (auto r = in::ReadEvalReport(*e.message_as_EvalReport()); r.ok()) {
        uint64_t sum = 0;
        for (uint64_t c : r->confusion) sum += c;
        Check(sum == r->examples);
        Check(r->confusion.size() == static_cast<size_t>(r->num_classes) * r->num_classes);
      }
      break;
    case wire::Message::DriftReport:
      if (auto r = in::ReadDriftReport(*e.message_as_DriftReport()); r.ok()) {
        Storable(r->top_feature);
        for (const auto& [k, v] : r->distances) Storable(k);
      }
      break;
    case wire::Message::InstallReport:
      if (auto r = in::ReadInstallReport(*e.message_as_InstallReport()); r.ok()) {
        Storable(r->target);
        Storable(r->error);
        Storable(r->previous);
        Storable(r->active_target);
        Check(r->error.size() <= in::kMaxFreeTextBytes);
      }
      break;
    case wire::Message::Error: {
      const std::string text = in::ReadPeerError(*e.message_as_Error());
      Storable(text);
      Check(text.size() <= in::kMaxFreeTextBytes);
      for (char c : text) Check(c != '\n' && c != '\x1b');
      break;
    }
    default:
      break;
  }
  return 0;
}
