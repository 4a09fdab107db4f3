// Drift references (client/drift_references.h) over a real sample store in a temp dir and a
// real live monitor: which stored profile the monitor compares with. No model runs; the
// library links LibTorch (live_monitor.h), hence the torch label.
#include "client/drift_references.h"

#include <gtest/gtest.h>

#include "tests/temp_dir.h"

namespace fedge::client {
namespace {

using fedge::testing::TempDir;

// A profile of `frames` identical frames of brightness `b`.
drift::Summary Profile(int frames, double b) {
  drift::Summary s;
  drift::FrameObservation f;
  f.brightness = b;
  f.contrast = 0.2;
  for (int i = 0; i < frames; ++i) s.Add(f, 0);
  return s;
}

class DriftReferencesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SampleStore::Open(dir_.path() + "/store", {});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  DriftReferences Make(LiveMonitor& monitor) {
    return DriftReferences(settings_, *store_, monitor, [] { return std::string("site-1"); });
  }

  TempDir dir_{"drift-references"};
  std::unique_ptr<SampleStore> store_;
  DriftMonitorSettings settings_;
};

TEST_F(DriftReferencesTest, PrefersTheLocalProfileAndFallsBackToTheGlobalOne) {
  LiveMonitor monitor(settings_);
  DriftReferences refs = Make(monitor);
  refs.Use(3, 10);  // nothing stored for version 3: no reference
  EXPECT_EQ(monitor.version(), 0u);
  ASSERT_TRUE(refs.Save("global", 3, Profile(50, 0.5)).ok());
  refs.Use(3, 10);
  EXPECT_EQ(monitor.version(), 3u);
  EXPECT_EQ(monitor.source(), "global");
  ASSERT_TRUE(refs.Save("local", 3, Profile(40, 0.4)).ok());
  refs.Use(3, 10);  // the local profile is preferred as soon as it exists
  EXPECT_EQ(monitor.source(), "local");
  refs.Use(4, 10);  // a version without profiles leaves the monitor as it was
  EXPECT_EQ(monitor.version(), 3u);
}

TEST_F(DriftReferencesTest, GlobalPreferenceAndProfilesSurviveARestart) {
  settings_.reference = "global";
  {
    LiveMonitor monitor(settings_);
    DriftReferences refs = Make(monitor);
    ASSERT_TRUE(refs.Save("local", 5, Profile(40, 0.4)).ok());
    ASSERT_TRUE(refs.Save("global", 5, Profile(50, 0.5)).ok());
  }
  store_.reset();
  SetUp();
  LiveMonitor monitor(settings_);
  DriftReferences refs = Make(monitor);
  refs.Use(5, 10);
  EXPECT_EQ(monitor.version(), 5u);
  EXPECT_EQ(monitor.source(), "global");
}

}  // namespace
}  // namespace fedge::client
