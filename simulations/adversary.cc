#include "simulations/adversary.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>

namespace fedge::sim {

using shared::Result;
using shared::Status;

int AdversarySettings::Count(int clients) const {
  return static_cast<int>(std::ceil(fraction * clients - 1e-9));
}

std::vector<std::string> AdversaryKeys() {
  return {"adversary.fraction", "adversary.kind",         "adversary.scale", "adversary.noise_std",
          "adversary.z",        "adversary.camera_fault", "adversary.paired"};
}

Result<AdversarySettings> LoadAdversary(const shared::ConfigFile& file) {
  AdversarySettings a;
  FEDGE_ASSIGN_OR_RETURN(a.fraction, file.Double("adversary.fraction", 0.0, 0.0, 0.9));
  FEDGE_ASSIGN_OR_RETURN(a.kind, file.String("adversary.kind", a.kind));
  if (a.kind != "sign_flip" && a.kind != "scaling" && a.kind != "noise" && a.kind != "label_flip" &&
      a.kind != "broken_camera" && !a.Colluding()) {
    return Status::InvalidArgument(file.path() + ": key 'adversary.kind': unknown attack '" +
                                   a.kind +
                                   "'; use sign_flip, scaling, noise, label_flip, alie, ipm, "
                                   "min_max or broken_camera");
  }
  FEDGE_ASSIGN_OR_RETURN(a.scale, file.Double("adversary.scale", 1.0, 0.0, 1e6));
  FEDGE_ASSIGN_OR_RETURN(a.noise_std, file.Double("adversary.noise_std", 0.1, 0.0, 1e6));
  FEDGE_ASSIGN_OR_RETURN(a.z, file.Double("adversary.z", 0.0, 0.0, 100.0));
  FEDGE_ASSIGN_OR_RETURN(a.camera_fault, file.String("adversary.camera_fault", a.camera_fault));
  FEDGE_ASSIGN_OR_RETURN(a.paired, file.Bool("adversary.paired", false));
  if (a.camera_fault != "black" && a.camera_fault != "frozen") {
    return Status::InvalidArgument(file.path() + ": key 'adversary.camera_fault': '" +
                                   a.camera_fault + "'; use black or frozen");
  }
  return a;
}

std::function<void(const shared::TensorBundle&, shared::TensorBundle*)> MakeTamper(
    const AdversarySettings& a, uint64_t seed) {
  if (a.kind == "label_flip" || a.kind == "broken_camera" || a.Colluding()) return {};
  if (a.kind == "noise") {
    auto rng = std::make_shared<std::mt19937_64>(seed);
    const double std_dev = a.noise_std;
    return [rng, std_dev](const shared::TensorBundle& base, shared::TensorBundle* trained) {
      std::normal_distribution<double> noise(0.0, std_dev);
      for (size_t t = 0; t < base.tensors.size(); ++t) {
        std::vector<float>& v = trained->tensors[t].data;
        const std::vector<float>& b = base.tensors[t].data;
        for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<float>(b[j] + noise(*rng));
      }
    };
  }
  const double factor = a.kind == "sign_flip" ? -a.scale : a.scale;
  return [factor](const shared::TensorBundle& base, shared::TensorBundle* trained) {
    for (size_t t = 0; t < base.tensors.size(); ++t) {
      std::vector<float>& v = trained->tensors[t].data;
      const std::vector<float>& b = base.tensors[t].data;
      for (size_t j = 0; j < v.size(); ++j) {
        v[j] = static_cast<float>(b[j] + factor * (static_cast<double>(v[j]) - b[j]));
      }
    }
  };
}

namespace {

// Per coordinate of the changes benign_i - base, in float64: the mean and the sample std.
struct Moments {
  std::vector<std::vector<double>> mean, std;  // [tensor][value]
};

Moments ChangeMoments(const std::vector<const shared::TensorBundle*>& benign,
                      const shared::TensorBundle& base) {
  Moments m;
  const double n = static_cast<double>(benign.size());
  for (size_t t = 0; t < base.tensors.size(); ++t) {
    const std::vector<float>& b = base.tensors[t].data;
    std::vector<double> mean(b.size(), 0), var(b.size(), 0);
    for (const shared::TensorBundle* u : benign) {
      const std::vector<float>& v = u->tensors[t].data;
      for (size_t j = 0; j < b.size(); ++j) mean[j] += (static_cast<double>(v[j]) - b[j]) / n;
    }
    if (benign.size() > 1) {
      for (const shared::TensorBundle* u : benign) {
        const std::vector<float>& v = u->tensors[t].data;
        for (size_t j = 0; j < b.size(); ++j) {
          const double d = static_cast<double>(v[j]) - b[j] - mean[j];
          var[j] += d * d / (n - 1);
        }
      }
    }
    for (double& x : var) x = std::sqrt(x);
    m.mean.push_back(std::move(mean));
    m.std.push_back(std::move(var));
  }
  return m;
}

// base + change(t, j) for every value.
template <typename Fn>
shared::TensorBundle BasePlus(const shared::TensorBundle& base, Fn change) {
  shared::TensorBundle out = base;
  for (size_t t = 0; t < out.tensors.size(); ++t) {
    std::vector<float>& v = out.tensors[t].data;
    for (size_t j = 0; j < v.size(); ++j) {
      v[j] = static_cast<float>(static_cast<double>(base.tensors[t].data[j]) + change(t, j));
    }
  }
  return out;
}

// The standard normal CDF's inverse, by bisection (p in (0, 1)).
double InverseNormalCdf(double p) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

uint64_t HashModel(const shared::TensorBundle& b) {
  uint64_t h = 1469598103934665603ull;
  for (const shared::Tensor& t : b.tensors) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data.data());
    for (size_t i = 0; i < t.data.size() * sizeof(float); ++i)
      h = (h ^ bytes[i]) * 1099511628211ull;
  }
  return h;
}

}  // namespace

double AlieZ(int n, int f) {
  const int s = n / 2 + 1 - f;
  return InverseNormalCdf(static_cast<double>(n - s) / n);
}

shared::TensorBundle CraftAlie(const std::vector<const shared::TensorBundle*>& benign,
                               const shared::TensorBundle& base, double z) {
  const Moments m = ChangeMoments(benign, base);
  return BasePlus(base, [&](size_t t, size_t j) { return m.mean[t][j] - z * m.std[t][j]; });
}

shared::TensorBundle CraftIpm(const std::vector<const shared::TensorBundle*>& benign,
                              const shared::TensorBundle& base, double epsilon) {
  const Moments m = ChangeMoments(benign, base);
  return BasePlus(base, [&](size_t t, size_t j) { return -epsilon * m.mean[t][j]; });
}

shared::TensorBundle CraftMinMax(const std::vector<const shared::TensorBundle*>& benign,
                                 const shared::TensorBundle& base) {
  const Moments m = ChangeMoments(benign, base);
  // Squared distances in change space: between benign updates, and from mean - gamma x std to
  // each of them.
  auto dist2 = [&](const shared::TensorBundle& a, const shared::TensorBundle& b) {
    double d = 0;
    for (size_t t = 0; t < a.tensors.size(); ++t) {
      for (size_t j = 0; j < a.tensors[t].data.size(); ++j) {
        const double x = static_cast<double>(a.tensors[t].data[j]) - b.tensors[t].data[j];
        d += x * x;
      }
    }
    return d;
  };
  double max_pair = 0;
  for (size_t i = 0; i < benign.size(); ++i) {
    for (size_t k = i + 1; k < benign.size(); ++k) {
      max_pair = std::max(max_pair, dist2(*benign[i], *benign[k]));
    }
  }
  auto crafted = [&](double gamma) {
    return BasePlus(base, [&](size_t t, size_t j) { return m.mean[t][j] - gamma * m.std[t][j]; });
  };
  auto fits = [&](double gamma) {
    const shared::TensorBundle c = crafted(gamma);
    for (const shared::TensorBundle* u : benign) {
      if (dist2(c, *u) > max_pair) return false;
    }
    return true;
  };
  // The largest gamma that fits: double until it does not, then bisect.
  double lo = 0, hi = 1;
  while (hi < 1e6 && fits(hi)) {
    lo = hi;
    hi *= 2;
  }
  for (int i = 0; i < 30 && hi < 1e6; ++i) {
    const double mid = (lo + hi) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return crafted(lo);
}

Collusion::Collusion(AdversarySettings settings, std::vector<std::string> members, int clients,
                     std::chrono::milliseconds wait)
    : settings_(std::move(settings)),
      members_(std::move(members)),
      clients_(clients),
      wait_(wait) {}

std::function<void(const shared::TensorBundle&, shared::TensorBundle*)> Collusion::TamperFor(
    std::string member) {
  return [this, member = std::move(member)](const shared::TensorBundle& base,
                                            shared::TensorBundle* trained) {
    Tamper(member, base, trained);
  };
}

shared::TensorBundle Collusion::Craft(const std::vector<const shared::TensorBundle*>& benign,
                                      const shared::TensorBundle& base) const {
  if (settings_.kind == "ipm") return CraftIpm(benign, base, settings_.scale);
  if (settings_.kind == "min_max") return CraftMinMax(benign, base);
  const int f = static_cast<int>(members_.size());
  const double z = settings_.z > 0 ? settings_.z : AlieZ(clients_, f);
  return CraftAlie(benign, base, z);
}

void Collusion::Tamper(const std::string& member, const shared::TensorBundle& base,
                       shared::TensorBundle* trained) {
  const uint64_t key = HashModel(base);
  std::unique_lock<std::mutex> lock(mu_);
  Pool& pool = pools_[key];
  pool.benign[member] = *trained;
  posted_.notify_all();
  posted_.wait_for(lock, wait_, [&] { return pool.benign.size() >= members_.size(); });
  std::vector<const shared::TensorBundle*> benign;
  for (const auto& [id, model] : pool.benign) benign.push_back(&model);  // sorted by member
  *trained = Craft(benign, base);
  if (++pool.crafted >= pool.benign.size()) pools_.erase(key);
}

std::shared_ptr<Collusion> MakeCollusion(const AdversarySettings& a,
                                         const std::vector<std::string>& client_ids, int clients) {
  if (!a.Colluding() || a.Count(clients) == 0) return nullptr;
  std::vector<std::string> members;
  for (int i = 0; i < clients; ++i) {
    if (a.Attacker(i, clients)) members.push_back(client_ids[static_cast<size_t>(i)]);
  }
  return std::make_shared<Collusion>(a, std::move(members), clients, std::chrono::seconds(60));
}

vision::SiteConditions::Fault CameraFault(const AdversarySettings& a, int site, int clients) {
  if (a.kind != "broken_camera" || !a.Attacker(site, clients)) {
    return vision::SiteConditions::Fault::kNone;
  }
  return a.camera_fault == "frozen" ? vision::SiteConditions::Fault::kFrozen
                                    : vision::SiteConditions::Fault::kBlack;
}

void FlipTrainingLabels(client::LocalData* data) {
  auto copy = std::make_shared<ml::Dataset>(*data->dataset);
  const int64_t top = copy->num_classes - 1;
  std::fill(data->class_counts.begin(), data->class_counts.end(), 0);
  for (int64_t k : data->train) {
    int64_t& y = copy->labels[static_cast<size_t>(k)];
    y = top - y;
    ++data->class_counts[static_cast<size_t>(y)];
  }
  data->dataset = std::move(copy);
}

}  // namespace fedge::sim
