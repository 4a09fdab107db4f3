#include "shared/ml/weights/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace fedge::ml {
namespace {

using shared::Result;
using shared::Status;
using shared::Tensor;
using shared::TensorBundle;

constexpr int kQMax = 127;

// Scale for values whose largest magnitude is `max_abs`: see QuantizeBundle.
float ScaleFor(double max_abs) {
  if (max_abs == 0) return 1.0f;
  const auto scale = static_cast<float>(max_abs / kQMax);
  return std::max(scale, std::numeric_limits<float>::min());
}

void QuantizeRange(std::span<const float> in, float scale, int8_t* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    const double q = std::nearbyint(static_cast<double>(in[i]) / static_cast<double>(scale));
    out[i] = static_cast<int8_t>(std::clamp(q, -double{kQMax}, double{kQMax}));
  }
}

StoredTensor QuantizeWeight(const Tensor& t, bool per_channel) {
  StoredTensor s;
  s.name = t.name;
  s.shape = t.shape;
  s.type = StoredType::kInt8;
  s.q.resize(t.data.size());
  const int64_t groups = per_channel ? t.shape[0] : 1;
  const size_t per = groups > 0 ? t.data.size() / static_cast<size_t>(groups) : 0;
  for (int64_t g = 0; g < std::max<int64_t>(groups, 1); ++g) {
    std::span<const float> part(t.data.data() + g * per, groups > 0 ? per : 0);
    double max_abs = 0;
    for (float v : part) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
    const float scale = ScaleFor(max_abs);
    s.scales.push_back(scale);
    QuantizeRange(part, scale, s.q.data() + g * per);
  }
  return s;
}

}  // namespace

std::string_view QuantSchemeName(QuantScheme scheme) {
  switch (scheme) {
    case QuantScheme::kNone:
      return "fp32";
    case QuantScheme::kInt8PerTensor:
      return "int8_per_tensor";
    case QuantScheme::kInt8PerChannel:
      return "int8_per_channel";
  }
  return "unknown";
}

Result<QuantScheme> ParseQuantScheme(std::string_view name) {
  for (QuantScheme s :
       {QuantScheme::kNone, QuantScheme::kInt8PerTensor, QuantScheme::kInt8PerChannel}) {
    if (name == QuantSchemeName(s)) return s;
  }
  return Status::InvalidArgument("unknown quantization scheme '" + std::string(name) +
                                 "' (known: fp32, int8_per_tensor, int8_per_channel)");
}

int64_t StoredTensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Status ValidateStored(const StoredTensor& t) {
  const std::string what = "tensor '" + t.name + "'";
  if (t.name.empty()) return Status::InvalidArgument("a tensor has an empty name");
  if (t.shape.size() > static_cast<size_t>(kMaxStoredRank)) {
    return Status::InvalidArgument(what + " has rank " + std::to_string(t.shape.size()) +
                                   ", over " + std::to_string(kMaxStoredRank));
  }
  int64_t n = 1;
  for (int64_t d : t.shape) {
    if (d < 0 || (d > 0 && n > kMaxStoredElements / d)) {
      return Status::InvalidArgument(what + " has shape " + shared::ShapeText(t.shape) +
                                     " (negative or over " + std::to_string(kMaxStoredElements) +
                                     " values)");
    }
    n *= d;
  }
  const bool fp32 = t.type == StoredType::kFp32;
  if (!fp32 && t.type != StoredType::kInt8) {
    return Status::InvalidArgument(what + " has an unknown type");
  }
  const size_t have = fp32 ? t.values.size() : t.q.size();
  if (static_cast<int64_t>(have) != n ||
      (fp32 ? !t.q.empty() || !t.scales.empty() : !t.values.empty())) {
    return Status::InvalidArgument(what + " of shape " + shared::ShapeText(t.shape) + " holds " +
                                   std::to_string(have) + " values, want " + std::to_string(n));
  }
  if (fp32) {
    auto bad =
        std::find_if(t.values.begin(), t.values.end(), [](float v) { return !std::isfinite(v); });
    if (bad != t.values.end()) {
      return Status::InvalidArgument(what + " has a non-finite value at " +
                                     std::to_string(bad - t.values.begin()));
    }
    return Status::Ok();
  }
  if (t.shape.empty() ||
      (t.scales.size() != 1 && static_cast<int64_t>(t.scales.size()) != t.shape[0])) {
    return Status::InvalidArgument(what + " (int8, shape " + shared::ShapeText(t.shape) + ") has " +
                                   std::to_string(t.scales.size()) +
                                   " scales, want 1 or one per output channel");
  }
  for (float s : t.scales) {
    if (!std::isfinite(s) || s <= 0) {
      return Status::InvalidArgument(what + " has a scale that is not finite and positive");
    }
  }
  if (std::any_of(t.q.begin(), t.q.end(), [](int8_t v) { return v < -kQMax; })) {
    return Status::InvalidArgument(what + " holds -128, outside the symmetric range");
  }
  return Status::Ok();
}

Result<std::vector<StoredTensor>> QuantizeBundle(const TensorBundle& bundle, QuantScheme scheme) {
  std::vector<StoredTensor> out;
  out.reserve(bundle.tensors.size());
  for (const Tensor& t : bundle.tensors) {
    if (t.NumElements() != static_cast<int64_t>(t.data.size())) {
      return Status::InvalidArgument("quantize: tensor '" + t.name + "' has shape " +
                                     shared::ShapeText(t.shape) + " but " +
                                     std::to_string(t.data.size()) + " values");
    }
    if (std::any_of(t.data.begin(), t.data.end(), [](float v) { return !std::isfinite(v); })) {
      return Status::InvalidArgument("quantize: tensor '" + t.name + "' has a non-finite value");
    }
    if (scheme == QuantScheme::kNone || t.shape.size() < 2) {
      StoredTensor& s = out.emplace_back();
      s.name = t.name;
      s.shape = t.shape;
      s.values = t.data;
      continue;
    }
    out.push_back(QuantizeWeight(t, scheme == QuantScheme::kInt8PerChannel));
  }
  return out;
}

Result<TensorBundle> DequantizeBundle(std::span<const StoredTensor> tensors) {
  TensorBundle bundle;
  std::set<std::string_view> names;
  for (const StoredTensor& s : tensors) {
    FEDGE_RETURN_IF_ERROR(ValidateStored(s));
    if (!names.insert(s.name).second) {
      return Status::InvalidArgument("duplicate tensor '" + s.name + "'");
    }
    Tensor& t = bundle.tensors.emplace_back();
    t.name = s.name;
    t.shape = s.shape;
    if (s.type == StoredType::kFp32) {
      t.data = s.values;
      continue;
    }
    t.data.resize(s.q.size());
    const size_t groups = s.scales.size();
    const size_t per = groups > 0 && !s.q.empty() ? s.q.size() / groups : 0;
    for (size_t i = 0; i < s.q.size(); ++i) {
      const float scale = groups == 1 ? s.scales[0] : s.scales[i / per];
      t.data[i] = static_cast<float>(s.q[i]) * scale;
    }
  }
  return bundle;
}

}  // namespace fedge::ml
