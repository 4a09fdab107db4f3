#include "shared/codec/bundle_codec.h"

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
    return Status::InvalidArgument(
        std::string("codec ") + wire::EnumNameCodec(codec) +
        " is not supported by EncodeBundle; use Fp32, Fp16 or Int8 (TopKInt8 "
        "encodes differences: EncodeTopKDelta)");
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

namespace {

// Dense payloads: Fp32, Fp16, Int8.
Status DecodeDense(const wire::TensorData& td, uint64_t n, Tensor* t) {
  const size_t width = BytesPerValue(td.codec());
  if (td.data()->size() != n * width) {
    return Status::InvalidArgument("tensor " + t->name + " carries " +
                                   std::to_string(td.data()->size()) +
                                   " bytes but its shape needs " + std::to_string(n * width) +
                                   " in " + wire::EnumNameCodec(td.codec()));
  }
  t->data.resize(n);
  const uint8_t* in = td.data()->data();
  if (td.codec() == wire::Codec::Fp32) {
    std::memcpy(t->data.data(), in, n * sizeof(float));
  } else if (td.codec() == wire::Codec::Fp16) {
    for (uint64_t i = 0; i < n; ++i) {
      _Float16 h;
      std::memcpy(&h, in + 2 * i, 2);
      t->data[i] = static_cast<float>(h);
    }
  } else {
    const float scale = td.scale();
    if (!std::isfinite(scale) || scale <= 0) {
      return Status::InvalidArgument("tensor " + t->name + " has an invalid int8 scale " +
                                     std::to_string(scale));
    }
    for (uint64_t i = 0; i < n; ++i) {
      t->data[i] = static_cast<float>(static_cast<int8_t>(in[i])) * scale;
    }
  }
  return Status::Ok();
}

// TopKInt8: zeros except at the LEB128 gap-coded positions.
Status DecodeTopK(const wire::TensorData& td, uint64_t n, Tensor* t) {
  const float scale = td.scale();
  if (!std::isfinite(scale) || scale <= 0) {
    return Status::InvalidArgument("tensor " + t->name + " has an invalid int8 scale " +
                                   std::to_string(scale));
  }
  if (td.indices() == nullptr) {
    return Status::InvalidArgument("tensor " + t->name + " is TopKInt8 without positions");
  }
  const auto& idx = *td.indices();
  const auto& values = *td.data();
  t->data.assign(n, 0.0f);
  size_t at = 0;
  uint64_t next = 0;  // smallest position the next entry may take
  for (size_t k = 0; k < values.size(); ++k) {
    uint64_t gap = 0;
    for (int shift = 0;; shift += 7) {
      if (at == idx.size() || shift > 56) {
        return Status::InvalidArgument("tensor " + t->name +
                                       " has truncated or malformed positions");
      }
      const uint8_t byte = idx[at++];
      gap |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    if (gap >= n || next + gap >= n) {
      return Status::InvalidArgument("tensor " + t->name + " has a position beyond its " +
                                     std::to_string(n) + " values");
    }
    const uint64_t pos = next + gap;
    t->data[pos] = static_cast<float>(static_cast<int8_t>(values[k])) * scale;
    next = pos + 1;
  }
  if (at != idx.size()) {
    return Status::InvalidArgument("tensor " + t->name + " has " + std::to_string(idx.size() - at) +
                                   " bytes of positions left over");
  }
  return Status::Ok();
}

// NaN and Inf have an all-ones exponent. A branch-free pass the compiler vectorises; the index
// is looked up only if there is one.
Status CheckFinite(const Tensor& t) {
  uint32_t non_finite = 0;
  const uint8_t* raw = reinterpret_cast<const uint8_t*>(t.data.data());
  for (size_t i = 0; i < t.data.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, raw + i * sizeof(float), sizeof(bits));
    non_finite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (non_finite == 0) return Status::Ok();
  size_t i = 0;
  while (std::isfinite(t.data[i])) ++i;
  return Status::InvalidArgument("tensor " + t.name + " has a non-finite value at index " +
                                 std::to_string(i));
}

// Checks name, rank and shape against the limits; returns the element count.
Result<uint64_t> DecodeShape(const wire::TensorData& td, const DecodeLimits& limits, Tensor* t) {
  t->name = td.name()->str();
  if (static_cast<int>(td.shape()->size()) > limits.max_rank) {
    return Status::InvalidArgument("tensor " + t->name + " has rank " +
                                   std::to_string(td.shape()->size()));
  }
  uint64_t n = 1;
  for (int64_t d : *td.shape()) {
    if (d < 0 || static_cast<uint64_t>(d) > limits.max_elements) {
      return Status::InvalidArgument("tensor " + t->name + " has invalid dimension " +
                                     std::to_string(d));
    }
    n *= static_cast<uint64_t>(d);
    if (n > limits.max_elements) break;
    t->shape.push_back(d);
  }
  return n;
}

}  // namespace

Result<TensorBundle> DecodeBundle(std::span<const uint8_t> bytes, const DecodeLimits& limits,
                                  BundleInfo* info) {
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
  const bool is_delta = b->base_digest() != nullptr;
  if (is_delta && b->base_digest()->size() != kDigestSize) {
    return Status::InvalidArgument("bundle's base digest is not a SHA-256");
  }
  if (is_delta && info == nullptr) {
    return Status::InvalidArgument(
        "bundle is a difference against another model, not a model; decode it as an update");
  }
  TensorBundle out;
  out.tensors.reserve(b->tensors()->size());
  uint64_t total = 0;
  for (const wire::TensorData* td : *b->tensors()) {
    Tensor t;
    FEDGE_ASSIGN_OR_RETURN(uint64_t n, DecodeShape(*td, limits, &t));
    total += n;
    if (n > limits.max_elements || total > limits.max_elements) {
      return Status::ResourceExhausted("bundle exceeds the limit of " +
                                       std::to_string(limits.max_elements) + " elements");
    }
    if (td->codec() == wire::Codec::TopKInt8) {
      if (!is_delta) {
        return Status::InvalidArgument("tensor " + t.name +
                                       " is TopKInt8 but the bundle names no base model");
      }
      FEDGE_RETURN_IF_ERROR(DecodeTopK(*td, n, &t));
    } else if (BytesPerValue(td->codec()) == 0) {
      return Status::InvalidArgument("tensor " + t.name + " uses unsupported codec " +
                                     std::string(wire::EnumNameCodec(td->codec())) +
                                     " (this build reads Fp32, Fp16, Int8 and TopKInt8)");
    } else {
      FEDGE_RETURN_IF_ERROR(DecodeDense(*td, n, &t));
    }
    FEDGE_RETURN_IF_ERROR(CheckFinite(t));
    out.tensors.push_back(std::move(t));
  }
  if (info != nullptr) {
    info->is_delta = is_delta;
    if (is_delta) std::memcpy(info->delta_base.data(), b->base_digest()->data(), kDigestSize);
  }
  return out;
}

Result<TensorBundle> DecodeUpdate(std::span<const uint8_t> bytes, const DecodeLimits& limits,
                                  const TensorBundle& base, const Digest& base_digest) {
  BundleInfo info;
  FEDGE_ASSIGN_OR_RETURN(TensorBundle update, DecodeBundle(bytes, limits, &info));
  if (!info.is_delta) return update;
  if (info.delta_base != base_digest) {
    return Status::InvalidArgument(
        "update is a difference against model " + ToHex(info.delta_base).substr(0, 16) +
        "..., not against the task's model " + ToHex(base_digest).substr(0, 16) + "...");
  }
  if (!update.SameLayout(base)) {
    return Status::InvalidArgument(
        "update's tensors do not match the names and shapes of the task's model");
  }
  for (size_t t = 0; t < update.tensors.size(); ++t) {
    std::vector<float>& d = update.tensors[t].data;
    const std::vector<float>& b = base.tensors[t].data;
    for (size_t i = 0; i < d.size(); ++i) d[i] += b[i];
    FEDGE_RETURN_IF_ERROR(CheckFinite(update.tensors[t]));
  }
  return update;
}

namespace {

void PutVarint(uint64_t v, std::vector<uint8_t>* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}

// Picks the k largest |d[i]| (ties to the lower position), ascending positions.
std::vector<uint32_t> TopK(const std::vector<float>& d, size_t k) {
  std::vector<uint32_t> order(d.size());
  for (size_t i = 0; i < d.size(); ++i) order[i] = static_cast<uint32_t>(i);
  auto larger = [&d](uint32_t a, uint32_t b) {
    const float fa = std::fabs(d[a]), fb = std::fabs(d[b]);
    return fa > fb || (fa == fb && a < b);
  };
  if (k < order.size()) {
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                     larger);
    order.resize(k);
  }
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace

Result<std::vector<uint8_t>> EncodeTopKDelta(const TensorBundle& updated, const TensorBundle& base,
                                             const Digest& base_digest, double fraction,
                                             TensorBundle* residual) {
  if (!(fraction > 0 && fraction <= 1)) {
    return Status::InvalidArgument("top-k fraction " + std::to_string(fraction) +
                                   " is outside (0, 1]");
  }
  if (!updated.SameLayout(base)) {
    return Status::InvalidArgument("updated model and base model have different layouts");
  }
  const bool carry = residual->SameLayout(base);
  TensorBundle next = base;  // becomes the new residual
  flatbuffers::FlatBufferBuilder fbb(static_cast<size_t>(base.NumElements() * fraction) * 3 + 1024);
  std::vector<flatbuffers::Offset<wire::TensorData>> tensors;
  std::vector<uint8_t> positions;
  for (size_t t = 0; t < base.tensors.size(); ++t) {
    std::vector<float>& d = next.tensors[t].data;
    for (size_t i = 0; i < d.size(); ++i) {
      d[i] = updated.tensors[t].data[i] - base.tensors[t].data[i] +
             (carry ? residual->tensors[t].data[i] : 0.0f);
      if (!std::isfinite(d[i])) {
        return Status::InvalidArgument("tensor " + base.tensors[t].name +
                                       " has a non-finite difference");
      }
    }
    const size_t k = std::min(
        d.size(), static_cast<size_t>(std::ceil(fraction * static_cast<double>(d.size()))));
    std::vector<uint32_t> picked = TopK(d, k);
    float max_abs = 0;
    for (uint32_t i : picked) max_abs = std::max(max_abs, std::fabs(d[i]));
    const float scale = max_abs > 0 ? max_abs / 127.0f : 1.0f;
    std::vector<uint8_t> values(picked.size());
    positions.clear();
    uint64_t next_pos = 0;
    for (size_t j = 0; j < picked.size(); ++j) {
      const uint32_t i = picked[j];
      const float q = std::clamp(std::nearbyint(d[i] / scale), -127.0f, 127.0f);
      values[j] = static_cast<uint8_t>(static_cast<int8_t>(q));
      d[i] -= q * scale;  // what the receiver does not get stays in the residual
      PutVarint(i - next_pos, &positions);
      next_pos = static_cast<uint64_t>(i) + 1;
    }
    auto name = fbb.CreateString(base.tensors[t].name);
    auto shape = fbb.CreateVector(base.tensors[t].shape);
    auto data = fbb.CreateVector(values);
    auto idx = fbb.CreateVector(positions);
    tensors.push_back(
        wire::CreateTensorData(fbb, name, shape, wire::Codec::TopKInt8, scale, data, idx));
  }
  auto vec = fbb.CreateVector(tensors);
  auto digest = fbb.CreateVector(base_digest.data(), base_digest.size());
  fbb.Finish(wire::CreateBundle(fbb, vec, digest), wire::BundleIdentifier());
  *residual = std::move(next);
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

}  // namespace fedge::shared
