#include "shared/bundle_codec.h"

#include <cmath>
#include <cstring>
#include <string>

namespace fedge::shared {

Result<std::vector<uint8_t>> EncodeBundle(const TensorBundle& bundle, wire::Codec codec) {
  if (codec != wire::Codec::Fp32) {
    return Status::InvalidArgument(std::string("codec ") + wire::EnumNameCodec(codec) +
                                   " is not supported for bundles yet; use Fp32");
  }
  flatbuffers::FlatBufferBuilder fbb(static_cast<size_t>(bundle.NumElements()) * 4 + 1024);
  std::vector<flatbuffers::Offset<wire::TensorData>> tensors;
  tensors.reserve(bundle.tensors.size());
  for (const Tensor& t : bundle.tensors) {
    if (static_cast<int64_t>(t.data.size()) != t.NumElements()) {
      return Status::InvalidArgument("tensor " + t.name + " has " + std::to_string(t.data.size()) +
                                     " values but its shape needs " +
                                     std::to_string(t.NumElements()));
    }
    uint8_t* raw = nullptr;
    auto data = fbb.CreateUninitializedVector(t.data.size() * sizeof(float), 1, &raw);
    std::memcpy(raw, t.data.data(), t.data.size() * sizeof(float));  // little-endian host
    auto name = fbb.CreateString(t.name);
    auto shape = fbb.CreateVector(t.shape);
    tensors.push_back(wire::CreateTensorData(fbb, name, shape, codec, 1.0f, data));
  }
  auto vec = fbb.CreateVector(tensors);
  fbb.Finish(wire::CreateBundle(fbb, vec), wire::BundleIdentifier());
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

Result<TensorBundle> DecodeBundle(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  if (bytes.size() < 8 ||
      !flatbuffers::BufferHasIdentifier(bytes.data(), wire::BundleIdentifier())) {
    return Status::Corruption("not a fedge tensor bundle (missing FDGT identifier)");
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size(), 16, limits.max_tensors * 4 + 16);
  if (!wire::VerifyBundleBuffer(verifier)) {
    return Status::Corruption("tensor bundle failed FlatBuffers verification");
  }
  const wire::Bundle* b = wire::GetBundle(bytes.data());
  if (b->tensors()->size() > limits.max_tensors) {
    return Status::ResourceExhausted("bundle has " + std::to_string(b->tensors()->size()) +
                                     " tensors, limit " + std::to_string(limits.max_tensors));
  }
  TensorBundle out;
  out.tensors.reserve(b->tensors()->size());
  uint64_t total = 0;
  for (const wire::TensorData* td : *b->tensors()) {
    Tensor t;
    t.name = td->name()->str();
    if (static_cast<int>(td->shape()->size()) > limits.max_rank) {
      return Status::InvalidArgument("tensor " + t.name + " has rank " +
                                     std::to_string(td->shape()->size()));
    }
    uint64_t n = 1;
    for (int64_t d : *td->shape()) {
      if (d < 0 || static_cast<uint64_t>(d) > limits.max_elements) {
        return Status::InvalidArgument("tensor " + t.name + " has invalid dimension " +
                                       std::to_string(d));
      }
      n *= static_cast<uint64_t>(d);
      if (n > limits.max_elements) break;
      t.shape.push_back(d);
    }
    total += n;
    if (n > limits.max_elements || total > limits.max_elements) {
      return Status::ResourceExhausted("bundle exceeds the limit of " +
                                       std::to_string(limits.max_elements) + " elements");
    }
    if (td->codec() != wire::Codec::Fp32) {
      return Status::InvalidArgument("tensor " + t.name + " uses unsupported codec " +
                                     std::to_string(static_cast<int>(td->codec())));
    }
    if (td->data()->size() != n * sizeof(float)) {
      return Status::InvalidArgument("tensor " + t.name + " carries " +
                                     std::to_string(td->data()->size()) +
                                     " bytes but its shape needs " + std::to_string(n * 4));
    }
    t.data.resize(n);
    std::memcpy(t.data.data(), td->data()->data(), n * sizeof(float));
    // NaN and Inf have an all-ones exponent. A branch-free pass the compiler vectorises; the
    // index is looked up only if there is one.
    uint32_t non_finite = 0;
    const uint8_t* raw = reinterpret_cast<const uint8_t*>(t.data.data());
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, raw + i * sizeof(float), sizeof(bits));
      non_finite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (non_finite != 0) {
      uint64_t i = 0;
      while (std::isfinite(t.data[i])) ++i;
      return Status::InvalidArgument("tensor " + t.name + " has a non-finite value at index " +
                                     std::to_string(i));
    }
    out.tensors.push_back(std::move(t));
  }
  return out;
}

}  // namespace fedge::shared
