#pragma once
// Camera data for simulations: each client's Fashion-MNIST partition rendered into a real video
// file under its site's conditions (lighting, colour cast, noise, blur, JPEG), with a labels
// side file; the test split rendered the same way, spread over the sites. Clients read their
// video through the production FrameSource into their private store, and a simulated reviewer
// imports the labels.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/client.h"
#include "shared/base/status.h"
#include "shared/ml/data/dataset.h"
#include "shared/vision/preprocess.h"
#include "shared/vision/render.h"
#include "simulations/scenario.h"

namespace fedge::sim {

struct SiteVideo {
  std::string video;   // DIR/camera/<client id>.avi
  std::string labels;  // DIR/camera/<client id>.csv (frame_id,label)
  uint64_t frames = 0;
};

// The 28x28 8-bit items of `indices` of `data` (normalised Fashion-MNIST), 784 bytes each, and
// their labels appended to *labels.
std::vector<uint8_t> Items(const ml::Dataset& data, const std::vector<int64_t>& indices,
                           std::vector<int64_t>* labels);

// Runs fn(0..n-1) on `threads` threads; the first error (by index) is returned.
shared::Status ParallelFor(size_t n, int threads, const std::function<shared::Status(size_t)>& fn);

// Renders `indices` of `data` (a normalised Fashion-MNIST split) as site `site`'s video, with
// its camera broken as `fault` says (the labels file then names only the first frame, the one
// the site's store keeps of a feed that repeats itself).
shared::Result<SiteVideo> RenderSite(
    const ml::Dataset& data, const std::vector<int64_t>& indices, int site,
    const Scenario& scenario, const std::string& dir, const std::string& name,
    vision::SiteConditions::Fault fault = vision::SiteConditions::Fault::kNone);

// Feeds a client its site: every frame into its store (quarantining what it must), then the
// reviewer's labels. Returns the ingest and import counts as JSON for the report.
shared::Result<nlohmann::json> FeedClient(client::SampleStore& store, const SiteVideo& site,
                                          const std::string& frame_format);

// Renders the first scenario.test_frames test images across the sites (image i at site
// i mod sites) and reads them back through frame sources into a dataset for `spec`.
shared::Result<ml::Dataset> RenderedTestSet(const ml::Dataset& test, const Scenario& scenario,
                                            const vision::InputSpec& spec, const std::string& dir);

}  // namespace fedge::sim
