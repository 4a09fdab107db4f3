#include "simulations/camera.h"

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "client/camera_data.h"
#include "client/frame_source.h"
#include "client/label_import.h"
#include "shared/vision/render.h"

namespace fedge::sim {

using shared::Result;
using shared::Status;

// Back from the normalised floats to the 28x28 8-bit item.
std::vector<uint8_t> Items(const ml::Dataset& data, const std::vector<int64_t>& indices,
                           std::vector<int64_t>* labels) {
  const size_t per = static_cast<size_t>(data.ExampleElements());
  std::vector<uint8_t> items(indices.size() * per);
  for (size_t k = 0; k < indices.size(); ++k) {
    const float* x = data.images.data() + static_cast<size_t>(indices[k]) * per;
    for (size_t i = 0; i < per; ++i) {
      float v = (x[i] * ml::kFashionMnistStd + ml::kFashionMnistMean) * 255.0f;
      items[k * per + i] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
    labels->push_back(data.labels[static_cast<size_t>(indices[k])]);
  }
  return items;
}

Status ParallelFor(size_t n, int threads, const std::function<Status(size_t)>& fn) {
  std::vector<Status> results(n);
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) results[i] = fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  for (Status& s : results) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

namespace {

// Cuts a labels CSV (frame_id,label) to its header and first frame.
Status KeepFirstLabel(const std::string& path) {
  std::ifstream in(path);
  std::string header, first;
  if (!std::getline(in, header) || !std::getline(in, first)) {
    return Status::Corruption(path + ": expected a header and at least one label");
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  out << header << "\n" << first << "\n";
  return out ? Status::Ok() : Status::IOError("cannot rewrite " + path);
}

}  // namespace

Result<SiteVideo> RenderSite(const ml::Dataset& data, const std::vector<int64_t>& indices, int site,
                             const Scenario& sc, const std::string& dir, const std::string& name,
                             vision::SiteConditions::Fault fault) {
  if (data.channels != 1 || data.height != 28 || data.width != 28) {
    return Status::InvalidArgument("camera rendering needs 28x28 grey items (Fashion-MNIST)");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  std::vector<int64_t> labels;
  std::vector<uint8_t> items = Items(data, indices, &labels);
  SiteVideo out;
  out.video = dir + "/" + name + ".avi";
  out.labels = dir + "/" + name + ".csv";
  out.frames = indices.size();
  vision::SiteConditions conditions = vision::SiteConditionsForIndex(site, sc.seed);
  conditions.fault = fault;
  FEDGE_RETURN_IF_ERROR(vision::WriteSiteVideo(out.video, out.labels, items, labels, conditions,
                                               /*fps=*/10, sc.frame_size));
  // The store keeps a broken feed's one distinct frame; its reviewer labels that one.
  if (fault != vision::SiteConditions::Fault::kNone)
    FEDGE_RETURN_IF_ERROR(KeepFirstLabel(out.labels));
  return out;
}

Result<nlohmann::json> FeedClient(client::SampleStore& store, const SiteVideo& site,
                                  const std::string& frame_format) {
  client::SourceOptions so;
  so.uri = site.video;
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<client::FrameSource> source, client::OpenFrameSource(so));
  client::IngestOptions io;
  io.format = frame_format;
  FEDGE_ASSIGN_OR_RETURN(client::IngestSummary in, client::IngestFrames(*source, store, io));
  FEDGE_ASSIGN_OR_RETURN(client::LabelImportSummary labels,
                         client::ImportLabels(store, site.labels));
  return nlohmann::json{{"video", site.video},           {"frames", in.frames},
                        {"stored", in.stored},           {"duplicates", in.duplicates},
                        {"unreadable", in.unreadable},   {"evicted", in.evicted},
                        {"labelled", labels.labels_set}, {"label_quarantined", labels.quarantined}};
}

Result<ml::Dataset> RenderedTestSet(const ml::Dataset& test, const Scenario& sc,
                                    const vision::InputSpec& spec, const std::string& dir) {
  const int sites = sc.clients;
  const int64_t n = std::min<int64_t>(sc.test_frames, test.size);
  ml::Dataset out;
  out.channels = spec.channels;
  out.height = spec.height;
  out.width = spec.width;
  out.num_classes = test.num_classes;
  const size_t per = spec.Floats();
  for (int site = 0; site < sites; ++site) {
    std::vector<int64_t> indices;
    for (int64_t i = site; i < n; i += sites) indices.push_back(i);
    if (indices.empty()) continue;
    FEDGE_ASSIGN_OR_RETURN(
        SiteVideo v, RenderSite(test, indices, site, sc, dir, "test-site-" + std::to_string(site)));
    client::SourceOptions so;
    so.uri = v.video;
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<client::FrameSource> source,
                           client::OpenFrameSource(so));
    for (int64_t i : indices) {
      FEDGE_ASSIGN_OR_RETURN(std::optional<client::Frame> frame, source->Next());
      if (!frame || !frame->unreadable.empty()) {
        return Status::Corruption("rendered test video " + v.video + " ended early");
      }
      out.images.resize(out.images.size() + per);
      FEDGE_RETURN_IF_ERROR(vision::Preprocess(
          frame->image, spec, std::span<float>(out.images.data() + out.images.size() - per, per)));
      out.labels.push_back(test.labels[static_cast<size_t>(i)]);
    }
  }
  out.size = static_cast<int64_t>(out.labels.size());
  return out;
}

}  // namespace fedge::sim
