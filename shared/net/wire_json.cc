#include "shared/net/wire_json.h"

#include <flatbuffers/idl.h>

#include <nlohmann/json.hpp>

#include "shared/crypto/crypto.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"

extern const unsigned char kFedgeWireSchema[];
extern const std::size_t kFedgeWireSchema_size;

namespace fedge::shared {

using nlohmann::json;

namespace {

// The parser holding the wire schema; GenerateText only reads it, so one serves every thread.
const flatbuffers::Parser* SchemaParser() {
  static const flatbuffers::Parser* parser = [] {
    flatbuffers::IDLOptions opts;
    opts.strict_json = true;
    opts.indent_step = -1;  // one line
    opts.output_default_scalars_in_json = true;
    opts.allow_non_utf8 = true;
    auto* p = new flatbuffers::Parser(opts);
    if (!p->Deserialize(kFedgeWireSchema, kFedgeWireSchema_size)) {
      delete p;
      return static_cast<flatbuffers::Parser*>(nullptr);
    }
    return p;
  }();
  return parser;
}

// Arrays of 32 small integers under a key ending in "digest" become hex strings.
void DigestsAsHex(json& j) {
  if (j.is_object()) {
    for (auto& [key, value] : j.items()) {
      if (key.ends_with("digest") && value.is_array() && value.size() == kDigestSize) {
        Digest d{};
        bool bytes = true;
        for (size_t i = 0; i < d.size() && bytes; ++i) {
          bytes = value[i].is_number_unsigned() && value[i].get<uint64_t>() < 256;
          if (bytes) d[i] = static_cast<uint8_t>(value[i].get<uint64_t>());
        }
        if (bytes) value = ToHex(d);
      } else {
        DigestsAsHex(value);
      }
    }
  } else if (j.is_array()) {
    for (json& v : j) DigestsAsHex(v);
  }
}

}  // namespace

Result<std::string> WireMessageJson(std::span<const uint8_t> payload) {
  FEDGE_ASSIGN_OR_RETURN(const wire::Envelope* env, VerifyEnvelope(payload));
  const flatbuffers::Parser* parser = SchemaParser();
  if (parser == nullptr) return Status::Internal("the compiled-in wire schema does not load");
  std::vector<uint8_t> copy;
  std::span<const uint8_t> shown = payload;
  json data;
  if (const wire::BlobChunk* c = env->message_as_BlobChunk()) {
    // The same chunk without its data, which is summarised instead.
    flatbuffers::FlatBufferBuilder fbb(256);
    auto digest = fbb.CreateVector(c->digest()->data(), c->digest()->size());
    auto empty = fbb.CreateVector(std::vector<uint8_t>());
    copy = FinishEnvelope(
        fbb, wire::CreateBlobChunk(fbb, c->kind(), digest, c->total_size(), c->offset(), empty));
    shown = copy;
    data = {{"bytes", c->data()->size()},
            {"sha256", ToHex(Sha256(std::span(c->data()->data(), c->data()->size())))}};
  }
  std::string text;
  if (!flatbuffers::GenerateText(*parser, shown.data(), &text)) {
    return Status::Internal("cannot render a " +
                            std::string(wire::EnumNameMessage(env->message_type())) +
                            " message as text");
  }
  json j = json::parse(text, nullptr, false);
  json out = {{"type", wire::EnumNameMessage(env->message_type())}};
  if (j.is_discarded() || !j.is_object()) {
    out["message"] = text;  // not valid UTF-8 somewhere: FlatBuffers' escaped text as it is
    return out.dump(-1, ' ', true, json::error_handler_t::replace);
  }
  json message = j.contains("message") ? j["message"] : json::object();
  DigestsAsHex(message);
  if (!data.is_null()) message["data"] = data;
  out["message"] = std::move(message);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace fedge::shared
