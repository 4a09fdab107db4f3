#include "shared/ml/weights/arch.h"

#include <algorithm>

namespace fedge::ml {
namespace {

using shared::Result;
using shared::Status;

struct WidthKey {
  const char* key;
  int64_t default_width;
};

// A base architecture: its input, its width keys and how to lay out its chain from widths.
struct Base {
  const char* name;
  int64_t channels, height, width;
  int num_classes;
  std::vector<WidthKey> keys;
  int64_t flatten_spatial;  // 0 for non-chain bases
};

const std::vector<Base>& Bases() {
  static const std::vector<Base> kBases = {
      {"cnn_small", 1, 28, 28, 10, {{"c1", 32}, {"c2", 64}, {"f1", 128}}, 5 * 5},
      {"cnn_color", 3, 32, 32, 10, {{"c1", 32}, {"c2", 64}, {"c3", 64}, {"f1", 128}}, 4 * 4},
      {"mobilenet_small", 3, 32, 32, 10, {}, 0},
  };
  return kBases;
}

const Base* FindBase(const std::string& name) {
  for (const Base& b : Bases()) {
    if (name == b.name) return &b;
  }
  return nullptr;
}

std::string KnownList() {
  std::string known;
  for (const Base& b : Bases()) {
    if (!known.empty()) known += ", ";
    known += b.name;
  }
  return known;
}

std::string KeyOrder(const Base& base) {
  std::string order;
  for (const WidthKey& k : base.keys) {
    if (!order.empty()) order += ',';
    order += k.key;
  }
  return order;
}

// A decimal integer in [1, kMaxWidth]: digits only, no leading zero. -1 otherwise.
int64_t ParseWidth(const std::string& text) {
  if (text.empty() || text.size() > 4 || text[0] == '0') return -1;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v <= kMaxWidth ? v : -1;
}

// The chain of conv layers (one per width key but the last) then two linear layers.
ArchInfo MakeInfo(const Base& base, const std::vector<int64_t>& widths, std::string name) {
  ArchInfo info;
  info.name = std::move(name);
  info.base = base.name;
  info.channels = base.channels;
  info.height = base.height;
  info.width = base.width;
  info.num_classes = base.num_classes;
  if (base.keys.empty()) return info;
  info.flatten_spatial = base.flatten_spatial;
  int64_t in = base.channels;
  for (size_t i = 0; i + 1 < base.keys.size(); ++i) {
    info.layers.push_back({base.keys[i].key, LayerKind::kConv, in, widths[i], 3, true});
    in = widths[i];
  }
  const int64_t hidden = widths.back();
  info.layers.push_back(
      {base.keys.back().key, LayerKind::kLinear, in * base.flatten_spatial, hidden, 1, true});
  info.layers.push_back({"f2", LayerKind::kLinear, hidden, base.num_classes, 1, false});
  return info;
}

std::vector<int64_t> Defaults(const Base& base) {
  std::vector<int64_t> widths;
  for (const WidthKey& k : base.keys) widths.push_back(k.default_width);
  return widths;
}

}  // namespace

int64_t ArchInfo::Width(const std::string& key) const {
  for (const Layer& l : layers) {
    if (l.width_param && l.name == key) return l.out;
  }
  return -1;
}

std::vector<std::string> BaseArchitectures() {
  std::vector<std::string> names;
  for (const Base& b : Bases()) names.emplace_back(b.name);
  return names;
}

Result<ArchInfo> ParseArch(const std::string& arch) {
  const size_t slash = arch.find('/');
  const std::string base_name = arch.substr(0, slash);
  const Base* base = FindBase(base_name);
  if (base == nullptr) {
    return Status::InvalidArgument("unknown model architecture '" + arch +
                                   "' (known: " + KnownList() + ")");
  }
  if (slash == std::string::npos) return MakeInfo(*base, Defaults(*base), arch);
  const std::string prefix = "architecture '" + arch + "': ";
  if (base->keys.empty()) {
    return Status::InvalidArgument(prefix + base_name + " takes no width parameters");
  }
  const std::string list = arch.substr(slash + 1);
  std::vector<std::string> items;
  for (size_t start = 0;;) {
    const size_t comma = list.find(',', start);
    items.push_back(list.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (items.size() != base->keys.size()) {
    return Status::InvalidArgument(prefix + "expected widths for exactly " + KeyOrder(*base) +
                                   " in that order, got " + std::to_string(items.size()) +
                                   " item(s)");
  }
  std::vector<int64_t> widths;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    if (eq == std::string::npos || key != base->keys[i].key) {
      return Status::InvalidArgument(prefix + "item " + std::to_string(i + 1) + " is '" + item +
                                     "', expected '" + base->keys[i].key +
                                     "=<width>' (keys in the order " + KeyOrder(*base) + ")");
    }
    const int64_t w = ParseWidth(item.substr(eq + 1));
    if (w < 0) {
      return Status::InvalidArgument(prefix + "width of " + key + " is '" + item.substr(eq + 1) +
                                     "', expected an integer in [1, " + std::to_string(kMaxWidth) +
                                     "] without sign or leading zeros");
    }
    widths.push_back(w);
  }
  if (widths == Defaults(*base)) {
    return Status::InvalidArgument(prefix + "these are the default widths; write '" + base_name +
                                   "'");
  }
  return MakeInfo(*base, widths, arch);
}

Result<std::string> FormatArch(const std::string& base_name, const std::vector<int64_t>& widths) {
  const Base* base = FindBase(base_name);
  if (base == nullptr) {
    return Status::InvalidArgument("unknown base architecture '" + base_name +
                                   "' (known: " + KnownList() + ")");
  }
  if (widths.size() != base->keys.size()) {
    return Status::InvalidArgument(base_name + " has " + std::to_string(base->keys.size()) +
                                   " widths, got " + std::to_string(widths.size()));
  }
  if (widths == Defaults(*base)) return base_name;
  std::string name = base_name + "/";
  for (size_t i = 0; i < widths.size(); ++i) {
    if (widths[i] < 1 || widths[i] > kMaxWidth) {
      return Status::InvalidArgument(base_name + ": width of " + base->keys[i].key + " is " +
                                     std::to_string(widths[i]) + ", outside [1, " +
                                     std::to_string(kMaxWidth) + "]");
    }
    if (i > 0) name += ',';
    name += std::string(base->keys[i].key) + "=" + std::to_string(widths[i]);
  }
  return name;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> ChainStateLayout(const ArchInfo& info) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> layout;
  for (const Layer& l : info.layers) {
    std::vector<int64_t> weight = {l.out, l.in};
    if (l.kind == LayerKind::kConv) weight.insert(weight.end(), {l.kernel, l.kernel});
    layout.emplace_back(l.name + ".weight", std::move(weight));
    layout.emplace_back(l.name + ".bias", std::vector<int64_t>{l.out});
  }
  return layout;
}

}  // namespace fedge::ml
