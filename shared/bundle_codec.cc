#include "shared/bundle_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace fedge::shared {

namespace {

size_t BytesPerValue(wire::Codec codec) {
  switch (codec) {
    case wire::Codec::Fp32:
      return 4;
    case wire::Codec::Fp16:
      return 2;
    case wire::Codec::Int8:
      return 1;
    default:
      return 0;  // not a dense per-value codec
  }
}

constexpr float kFp16Max = 65504.0f;

}  // namespace

Result<std::vector<uint8_t>> EncodeBundle(const TensorBundle& bundle, wire::Codec codec) {
  const size_t width = BytesPerValue(codec);
  if (width == 0) {
    return Status::InvalidArgument(std::string("codec ") + wire::EnumNameCodec(codec) +
                                   " is not supported for bundles yet; use Fp32, Fp16 or Int8");
  }
  flatbuffers::FlatBufferBuilder fbb(static_cast<size_t>(bundle.NumElements()) * width + 1024);
  std::vector<flatbuffers::Offset<wire::TensorData>> tensors;
  tensors.reserve(bundle.tensors.size());
  for (const Tensor& t : bundle.tensors) {
    if (static_cast<int64_t>(t.data.size()) != t.NumElements()) {
      return Status::InvalidArgument("tensor " + t.name + " has " + std::to_string(t.data.size()) +
                                     " values but its shape needs " +
                                     std::to_string(t.NumElements()));
    }
    float max_abs = 0;  // the lossy codecs need it (and finite values)
    for (size_t i = 0; codec != wire::Codec::Fp32 && i < t.data.size(); ++i) {
      if (!std::isfinite(t.data[i])) {
        return Status::InvalidArgument("tensor " + t.name + " has a non-finite value");
      }
      max_abs = std::max(max_abs, std::fabs(t.data[i]));
    }
    uint8_t* raw = nullptr;
    auto data = fbb.CreateUninitializedVector(t.data.size() * width, 1, &raw);
    float scale = 1.0f;
    if (codec == wire::Codec::Fp32) {
      std::memcpy(raw, t.data.data(), t.data.size() * sizeof(float));  // little-endian host
    } else if (codec == wire::Codec::Fp16) {
      if (max_abs > kFp16Max) {
        return Status::InvalidArgument("tensor " + t.name + " has a value of magnitude " +
                                       std::to_string(max_abs) +
                                       " beyond fp16's range (65504); use fp32 or int8");
      }
      for (size_t i = 0; i < t.data.size(); ++i) {
        _Float16 h = static_cast<_Float16>(t.data[i]);  // round to nearest even
        std::memcpy(raw + 2 * i, &h, 2);
      }
    } else {  // Int8, symmetric per-tensor scale
      scale = max_abs > 0 ? max_abs / 127.0f : 1.0f;
      const float inv = 1.0f / scale;
      for (size_t i = 0; i < t.data.size(); ++i) {
        float q = std::nearbyint(t.data[i] * inv);
        raw[i] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f)));
      }
    }
    auto name = fbb.CreateString(t.name);
    auto shape = fbb.CreateVector(t.shape);
    tensors.push_back(wire::CreateTensorData(fbb, name, shape, codec, scale, data));
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
    const size_t width = BytesPerValue(td->codec());
    if (width == 0) {
      return Status::InvalidArgument("tensor " + t.name + " uses unsupported codec " +
                                     std::string(wire::EnumNameCodec(td->codec())) +
                                     " (this build reads Fp32, Fp16 and Int8)");
    }
    if (td->data()->size() != n * width) {
      return Status::InvalidArgument("tensor " + t.name + " carries " +
                                     std::to_string(td->data()->size()) +
                                     " bytes but its shape needs " + std::to_string(n * width) +
                                     " in " + wire::EnumNameCodec(td->codec()));
    }
    t.data.resize(n);
    const uint8_t* in = td->data()->data();
    if (td->codec() == wire::Codec::Fp32) {
      std::memcpy(t.data.data(), in, n * sizeof(float));
    } else if (td->codec() == wire::Codec::Fp16) {
      for (uint64_t i = 0; i < n; ++i) {
        _Float16 h;
        std::memcpy(&h, in + 2 * i, 2);
        t.data[i] = static_cast<float>(h);
      }
    } else {
      const float scale = td->scale();
      if (!std::isfinite(scale) || scale <= 0) {
        return Status::InvalidArgument("tensor " + t.name + " has an invalid int8 scale " +
                                       std::to_string(scale));
      }
      for (uint64_t i = 0; i < n; ++i) {
        t.data[i] = static_cast<float>(static_cast<int8_t>(in[i])) * scale;
      }
    }
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
