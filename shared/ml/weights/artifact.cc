#include "shared/ml/weights/artifact.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <set>

#include "schemas/artifact_generated.h"
#include "shared/net/wire_text.h"

namespace fedge::ml {
namespace {

namespace fb = fedge::artifact;
using shared::Result;
using shared::Status;

static_assert(std::endian::native == std::endian::little,
              "artifact fp32 payloads are little-endian; add byte swapping for this host");

// Model ids become file names on clients (as in shared/release): [A-Za-z0-9._-], 1..255
// characters, not starting with '.'.
bool UsableModelId(const std::string& id) {
  if (id.empty() || id.size() > shared::release::kMaxNameLength || id[0] == '.') return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status CheckStrings(const Artifact& a, size_t max) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"arch", &a.arch},
      {"recipe.prune_method", &a.recipe.prune_method},
      {"recipe.quantization", &a.recipe.quantization},
      {"recipe.fine_tuning", &a.recipe.fine_tuning},
      {"compatibility.arch", &a.compatibility.arch},
      {"compatibility.min_client_version", &a.compatibility.min_client_version},
  };
  for (const auto& [name, value] : fields) {
    if (value->size() > max) {
      return Status::InvalidArgument(std::string("artifact: ") + name + " is longer than " +
                                     std::to_string(max) + " bytes");
    }
  }
  return Status::Ok();
}

Status CheckTensors(const Artifact& a, const ArtifactLimits& limits) {
  if (a.tensors.size() > limits.max_tensors) {
    return Status::InvalidArgument("artifact: " + std::to_string(a.tensors.size()) +
                                   " tensors, over the limit of " +
                                   std::to_string(limits.max_tensors));
  }
  std::set<std::string_view> names;
  uint64_t elements = 0;
  for (const StoredTensor& t : a.tensors) {
    FEDGE_RETURN_IF_ERROR(ValidateStored(t).WithContext("artifact"));
    if (!names.insert(t.name).second) {
      return Status::InvalidArgument("artifact: duplicate tensor '" + t.name + "'");
    }
    elements += static_cast<uint64_t>(t.NumElements());
    if (elements > limits.max_elements) {
      return Status::InvalidArgument("artifact: tensors hold over " +
                                     std::to_string(limits.max_elements) + " values");
    }
  }
  return Status::Ok();
}

Status CheckMetadata(const Artifact& a, const ArtifactLimits& limits) {
  if (!UsableModelId(a.model_id)) {
    return Status::InvalidArgument("artifact: model_id '" + a.model_id +
                                   "' must be 1-255 characters of [A-Za-z0-9._-], not "
                                   "starting with '.'");
  }
  if (a.version < 1 || a.parent_version >= a.version) {
    return Status::InvalidArgument("artifact: version " + std::to_string(a.version) +
                                   " and parent_version " + std::to_string(a.parent_version) +
                                   ": need version >= 1 and parent_version < version");
  }
  if (a.created_unix < 0) return Status::InvalidArgument("artifact: created_unix is negative");
  FEDGE_RETURN_IF_ERROR(
      ParseQuantScheme(a.recipe.quantization).status().WithContext("artifact: recipe"));
  const ArtifactRecipe& r = a.recipe;
  const bool pruned = r.prune_method == "l1_channels";
  if ((!pruned && !r.prune_method.empty()) || !(r.prune_fraction >= 0 && r.prune_fraction < 1) ||
      (!pruned && (r.prune_fraction != 0 || r.prune_hidden))) {
    return Status::InvalidArgument(
        "artifact: recipe prune_method must be \"\" or \"l1_channels\" with prune_fraction in "
        "[0, 1) (0 and prune_hidden false when not pruned)");
  }
  if (a.metrics.size() > limits.max_metrics) {
    return Status::InvalidArgument("artifact: over " + std::to_string(limits.max_metrics) +
                                   " metrics");
  }
  for (const auto& [key, value] : a.metrics) {
    if (key.empty() || key.size() > limits.max_string || !std::isfinite(value)) {
      return Status::InvalidArgument("artifact: metric '" + key +
                                     "' needs a non-empty key and a finite value");
    }
  }
  const shared::release::Compatibility& c = a.compatibility;
  const std::vector<uint32_t> shape(a.input_shape.begin(), a.input_shape.end());
  if (c.arch != a.arch || c.input_shape != shape) {
    return Status::InvalidArgument(
        "artifact: compatibility names arch '" + c.arch +
        "' and an input shape that must equal the artifact's arch and input shape");
  }
  return shared::release::ParseVersionTriple(c.min_client_version)
      .status()
      .WithContext("artifact: compatibility.min_client_version");
}

flatbuffers::Offset<fb::StoredTensor> TensorToWire(flatbuffers::FlatBufferBuilder& fbb,
                                                   const StoredTensor& t) {
  const bool fp32 = t.type == StoredType::kFp32;
  const auto* bytes = fp32 ? reinterpret_cast<const uint8_t*>(t.values.data())
                           : reinterpret_cast<const uint8_t*>(t.q.data());
  const size_t size = fp32 ? t.values.size() * sizeof(float) : t.q.size();
  auto name = fbb.CreateString(t.name);
  auto shape = fbb.CreateVector(t.shape);
  auto data = fbb.CreateVector(bytes, size);
  auto scales =
      fp32 ? flatbuffers::Offset<flatbuffers::Vector<float>>() : fbb.CreateVector(t.scales);
  return fb::CreateStoredTensor(fbb, name, shape, fp32 ? fb::DType::Fp32 : fb::DType::Int8, data,
                                scales);
}

flatbuffers::Offset<fb::Metadata> MetadataToWire(flatbuffers::FlatBufferBuilder& fbb,
                                                 const Artifact& a) {
  const ArtifactRecipe& r = a.recipe;
  auto recipe =
      fb::CreateRecipeDirect(fbb, r.prune_method.c_str(), r.prune_fraction, r.prune_hidden,
                             r.quantization.c_str(), r.fine_tuning.c_str());
  std::vector<flatbuffers::Offset<fb::Metric>> metrics;
  for (const auto& [key, value] : a.metrics) {
    metrics.push_back(fb::CreateMetricDirect(fbb, key.c_str(), value));
  }
  const shared::release::Compatibility& c = a.compatibility;
  auto compat = fb::CreateCompatibilityDirect(fbb, c.arch.c_str(), &c.input_shape,
                                              c.min_client_version.c_str());
  return fb::CreateMetadataDirect(fbb, a.model_id.c_str(), a.version, a.parent_version,
                                  a.created_unix, recipe, &metrics, compat);
}

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// Vectors of scalars are copied with shared::WireScalars: a forged file can place them off
// their alignment (the verifier checks offsets relative to the buffer), found by artifact_fuzz.
constexpr size_t kMaxRank = 16;
constexpr size_t kMaxScales = size_t{1} << 24;

Result<StoredTensor> TensorFromWire(const fb::StoredTensor& w) {
  StoredTensor t;
  t.name = w.name()->str();
  FEDGE_ASSIGN_OR_RETURN(t.shape, shared::WireScalars(w.shape(), kMaxRank, "artifact: a shape"));
  const auto* data = w.data();
  switch (w.dtype()) {
    case fb::DType::Fp32:
      if (data->size() % sizeof(float) != 0) {
        return Status::InvalidArgument("artifact: tensor '" + t.name + "' has " +
                                       std::to_string(data->size()) +
                                       " fp32 bytes, not a multiple of 4");
      }
      t.values.resize(data->size() / sizeof(float));
      if (data->size() > 0) std::memcpy(t.values.data(), data->data(), data->size());
      if (w.scales() != nullptr && w.scales()->size() > 0) {
        return Status::InvalidArgument("artifact: fp32 tensor '" + t.name + "' has scales");
      }
      break;
    case fb::DType::Int8: {
      t.type = StoredType::kInt8;
      t.q.resize(data->size());
      if (data->size() > 0) std::memcpy(t.q.data(), data->data(), data->size());
      FEDGE_ASSIGN_OR_RETURN(
          t.scales,
          shared::WireScalars(w.scales(), kMaxScales, "artifact: tensor '" + t.name + "' scales"));
      break;
    }
    default:
      return Status::InvalidArgument("artifact: tensor '" + t.name + "' has unknown dtype " +
                                     std::to_string(static_cast<int>(w.dtype())));
  }
  return t;
}

Result<Artifact> FromWire(const fb::Artifact& w) {
  Artifact a;
  a.arch = w.arch()->name()->str();
  FEDGE_ASSIGN_OR_RETURN(a.input_shape, shared::WireScalars(w.arch()->input_shape(), kMaxRank,
                                                            "artifact: the input shape"));
  a.num_classes = w.arch()->num_classes();
  for (const fb::StoredTensor* t : *w.tensors()) {
    FEDGE_ASSIGN_OR_RETURN(StoredTensor stored, TensorFromWire(*t));
    a.tensors.push_back(std::move(stored));
  }
  if (w.drift_profile() != nullptr) {
    a.drift_profile.assign(w.drift_profile()->begin(), w.drift_profile()->end());
  }
  const fb::Metadata& m = *w.metadata();
  a.model_id = m.model_id()->str();
  a.version = m.version();
  a.parent_version = m.parent_version();
  a.created_unix = m.created_unix();
  const fb::Recipe& r = *m.recipe();
  a.recipe = {Str(r.prune_method()), r.prune_fraction(), r.prune_hidden(), Str(r.quantization()),
              Str(r.fine_tuning())};
  if (m.metrics() != nullptr) {
    for (const fb::Metric* metric : *m.metrics()) {
      if (!a.metrics.emplace(metric->key()->str(), metric->value()).second) {
        return Status::InvalidArgument("artifact: metric '" + metric->key()->str() +
                                       "' appears twice");
      }
    }
  }
  const fb::Compatibility& c = *m.compatibility();
  a.compatibility.arch = c.arch()->str();
  FEDGE_ASSIGN_OR_RETURN(
      a.compatibility.input_shape,
      shared::WireScalars(c.input_shape(), kMaxRank, "artifact: the compatibility input shape"));
  a.compatibility.min_client_version = c.min_client_version()->str();
  return a;
}

}  // namespace

Status ValidateArtifact(const Artifact& a, const ArtifactLimits& limits) {
  FEDGE_RETURN_IF_ERROR(CheckStrings(a, limits.max_string));
  if (a.arch.empty()) return Status::InvalidArgument("artifact: arch is empty");
  if (a.input_shape.size() != 3 || a.input_shape[0] < 1 || a.input_shape[1] < 1 ||
      a.input_shape[2] < 1 || a.input_shape[0] > 4096 || a.input_shape[1] > 65536 ||
      a.input_shape[2] > 65536) {
    return Status::InvalidArgument(
        "artifact: input_shape must be 3 positive dimensions (channels, height, width)");
  }
  if (a.num_classes < 1) return Status::InvalidArgument("artifact: num_classes must be >= 1");
  FEDGE_RETURN_IF_ERROR(CheckTensors(a, limits));
  if (a.drift_profile.size() > limits.max_drift_profile_bytes) {
    return Status::InvalidArgument(
        "artifact: drift profile of " + std::to_string(a.drift_profile.size()) +
        " bytes, over the limit of " + std::to_string(limits.max_drift_profile_bytes));
  }
  return CheckMetadata(a, limits);
}

Result<std::vector<uint8_t>> EncodeArtifact(const Artifact& a, const ArtifactLimits& limits) {
  FEDGE_RETURN_IF_ERROR(ValidateArtifact(a, limits));
  flatbuffers::FlatBufferBuilder fbb(1 << 16);
  std::vector<flatbuffers::Offset<fb::StoredTensor>> tensors;
  for (const StoredTensor& t : a.tensors) tensors.push_back(TensorToWire(fbb, t));
  auto tensor_vec = fbb.CreateVector(tensors);
  auto arch = fb::CreateArchDirect(fbb, a.arch.c_str(), &a.input_shape, a.num_classes);
  auto profile = fbb.CreateVector(a.drift_profile);
  auto metadata = MetadataToWire(fbb, a);
  fb::FinishSizePrefixedArtifactBuffer(
      fbb, fb::CreateArtifact(fbb, kArtifactFormatVersion, arch, tensor_vec, profile, metadata));
  if (fbb.GetSize() > limits.max_bytes) {
    return Status::ResourceExhausted("artifact: " + std::to_string(fbb.GetSize()) +
                                     " bytes, over the limit of " +
                                     std::to_string(limits.max_bytes));
  }
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

Result<Artifact> DecodeArtifact(std::span<const uint8_t> bytes, const ArtifactLimits& limits) {
  if (bytes.size() > limits.max_bytes) {
    return Status::ResourceExhausted("artifact: " + std::to_string(bytes.size()) +
                                     " bytes, over the limit of " +
                                     std::to_string(limits.max_bytes));
  }
  if (bytes.size() < 12 || !fb::SizePrefixedArtifactBufferHasIdentifier(bytes.data())) {
    return Status::Corruption("artifact: not a fedge artifact (no \"FDGA\" identifier)");
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), /*max_depth=*/16,
                                 /*max_tables=*/1 << 20);
  if (!fb::VerifySizePrefixedArtifactBuffer(verifier)) {
    return Status::Corruption("artifact: " + std::to_string(bytes.size()) +
                              " bytes fail FlatBuffers verification (truncated or corrupt)");
  }
  const fb::Artifact& w = *fb::GetSizePrefixedArtifact(bytes.data());
  if (w.format_version() != kArtifactFormatVersion) {
    return Status::InvalidArgument("artifact: format version " +
                                   std::to_string(w.format_version()) + " is not supported (want " +
                                   std::to_string(kArtifactFormatVersion) + ")");
  }
  if (w.tensors()->size() > limits.max_tensors) {
    return Status::InvalidArgument("artifact: " + std::to_string(w.tensors()->size()) +
                                   " tensors, over the limit of " +
                                   std::to_string(limits.max_tensors));
  }
  FEDGE_ASSIGN_OR_RETURN(Artifact a, FromWire(w));
  FEDGE_RETURN_IF_ERROR(ValidateArtifact(a, limits));
  return a;
}

Result<shared::TensorBundle> ArtifactState(const Artifact& artifact) {
  return DequantizeBundle(artifact.tensors);
}

}  // namespace fedge::ml
