#include "simulations/drift_timeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

namespace fedge::sim {
namespace {

using shared::Code;
using shared::ConfigFile;
using vision::SiteConditions;

shared::Result<DriftTimeline> LoadText(const std::string& text, int clients = 4) {
  auto file = ConfigFile::Parse(text, "drift.toml");
  if (!file.ok()) return file.status();
  return LoadDriftTimeline(*file, clients);
}

// The message of a failed load, or "" (with a test failure) if it loaded.
std::string LoadError(const std::string& text, int clients = 4) {
  auto t = LoadText(text, clients);
  EXPECT_FALSE(t.ok()) << text;
  if (t.ok()) return "";
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
  return t.status().message();
}

TEST(DriftTimelineTest, LoadsEventsFromAScenarioFile) {
  auto t = LoadText(
      "[scenario]\nclients = 4\n"
      "[camera]\nenabled = true\n"
      "[[drift.events]]\nkind = \"fog\"\nclients = [0, 2]\nat_frame = 300\n"
      "mode = \"gradual\"\nramp_frames = 200\nseverity = 0.8\n"
      "[[drift.events]]\nkind = \"dirty_lens\"\nclients = [3]\n",
      4);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->events.size(), 2u);
  EXPECT_FALSE(t->Empty());
  const DriftEvent& fog = t->events[0];
  EXPECT_EQ(fog.kind, DriftKind::kFog);
  EXPECT_EQ(fog.clients, (std::vector<int>{0, 2}));
  EXPECT_EQ(fog.at_frame, 300u);
  EXPECT_TRUE(fog.gradual);
  EXPECT_EQ(fog.ramp_frames, 200u);
  EXPECT_DOUBLE_EQ(fog.severity, 0.8);
  const DriftEvent& lens = t->events[1];  // defaults
  EXPECT_EQ(lens.kind, DriftKind::kDirtyLens);
  EXPECT_EQ(lens.clients, (std::vector<int>{3}));
  EXPECT_EQ(lens.at_frame, 0u);
  EXPECT_FALSE(lens.gradual);
  EXPECT_EQ(lens.ramp_frames, 1000u);
  EXPECT_DOUBLE_EQ(lens.severity, 1.0);

  auto none = LoadText("[scenario]\nclients = 4\n");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->Empty());
}

TEST(DriftTimelineTest, EveryKindHasItsFileName) {
  for (DriftKind kind : {DriftKind::kDusk, DriftKind::kFog, DriftKind::kDirtyLens,
                         DriftKind::kColorCast, DriftKind::kNoise}) {
    auto t = LoadText("[[drift.events]]\nkind = \"" + std::string(KindName(kind)) +
                      "\"\nclients = [1]\n");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->events[0].kind, kind);
  }
  EXPECT_EQ(KindName(DriftKind::kColorCast), "color_cast");
  EXPECT_EQ(KindName(DriftKind::kDirtyLens), "dirty_lens");
}

TEST(DriftTimelineTest, ErrorsNameTheFileTheElementAndTheKey) {
  const std::string ok = "[[drift.events]]\nkind = \"dusk\"\nclients = [0]\n";
  EXPECT_EQ(LoadError(ok + "[[drift.events]]\nkind = \"rain\"\nclients = [0]\n"),
            "drift.toml: key 'drift.events[1].kind': must be dusk, fog, dirty_lens, color_cast "
            "or noise, got 'rain'");
  EXPECT_EQ(LoadError(ok + "[[drift.events]]\nkind = \"fog\"\nclients = [0]\nmode = \"slow\"\n"),
            "drift.toml: key 'drift.events[1].mode': must be abrupt or gradual, got 'slow'");
  EXPECT_EQ(LoadError(ok + "[[drift.events]]\nkind = \"fog\"\nclients = [0]\nseverety = 1\n"),
            "drift.toml: key 'drift.events[1].severety': unknown key (check the spelling)");
  EXPECT_EQ(LoadError("[[drift.events]]\nkind = \"fog\"\nclients = [1, 4]\n"),
            "drift.toml: key 'drift.events[0].clients': element 1 must be between 0 and 3, "
            "got 4");
  EXPECT_EQ(LoadError("[[drift.events]]\nkind = \"fog\"\nclients = [-1]\n"),
            "drift.toml: key 'drift.events[0].clients': element 0 must be between 0 and 3, "
            "got -1");
  EXPECT_EQ(LoadError("[[drift.events]]\nkind = \"fog\"\nclients = []\n"),
            "drift.toml: key 'drift.events[0].clients': must name at least one client");
  EXPECT_EQ(LoadError("[[drift.events]]\nkind = \"fog\"\n"),
            "drift.toml: key 'drift.events[0].clients': is required but missing");
  EXPECT_EQ(LoadError("[[drift.events]]\nclients = [0]\n"),
            "drift.toml: key 'drift.events[0].kind': is required but missing");
  EXPECT_EQ(LoadError("[[drift.events]]\nkind = \"fog\"\nclients = [0]\nseverity = 0\n"),
            "drift.toml: key 'drift.events[0].severity': must be greater than 0 and at most 1, "
            "got 0");
  EXPECT_EQ(LoadError("[[drift.events]]\nkind = \"fog\"\nclients = [0]\nseverity = 1.5\n"),
            "drift.toml: key 'drift.events[0].severity': must be greater than 0 and at most 1, "
            "got 1.5");
  EXPECT_NE(LoadError(ok + "[[drift.events]]\nkind = \"fog\"\nclients = [0]\nat_frame = -5\n")
                .find("'drift.events[1].at_frame': must be between 0 and"),
            std::string::npos);
  EXPECT_NE(LoadError(ok + "[[drift.events]]\nkind = \"fog\"\nclients = [0]\nramp_frames = 0\n")
                .find("'drift.events[1].ramp_frames': must be between 1 and"),
            std::string::npos);
  EXPECT_NE(LoadError("[drift]\nevents = 3\n").find("'drift.events': expected an array of tables"),
            std::string::npos);
}

TEST(DriftTimelineTest, AbruptStrengthIsFullSeverityFromItsFrame) {
  DriftEvent e{.kind = DriftKind::kFog, .clients = {0}, .at_frame = 100, .severity = 0.7};
  EXPECT_EQ(Strength(e, 0), 0.0);
  EXPECT_EQ(Strength(e, 99), 0.0);
  EXPECT_EQ(Strength(e, 100), 0.7);
  EXPECT_EQ(Strength(e, 5000), 0.7);
}

TEST(DriftTimelineTest, GradualStrengthRampsLinearly) {
  DriftEvent e{.kind = DriftKind::kFog,
               .clients = {0},
               .at_frame = 100,
               .gradual = true,
               .ramp_frames = 10,
               .severity = 0.8};
  EXPECT_EQ(Strength(e, 99), 0.0);
  EXPECT_DOUBLE_EQ(Strength(e, 100), 0.08);  // first frame: 1 / ramp_frames
  EXPECT_DOUBLE_EQ(Strength(e, 104), 0.4);   // mid-ramp
  EXPECT_DOUBLE_EQ(Strength(e, 109), 0.8);   // the ramp's last frame reaches severity
  EXPECT_DOUBLE_EQ(Strength(e, 110), 0.8);
  EXPECT_DOUBLE_EQ(Strength(e, 1000000), 0.8);
  e.ramp_frames = 0;  // treated as 1
  EXPECT_DOUBLE_EQ(Strength(e, 100), 0.8);
}

// A base with every affected field away from its neutral value.
SiteConditions Base() {
  SiteConditions c;
  c.exposure = 0.9;
  c.gamma = 1.1;
  c.contrast = 0.8;
  c.haze = 0.2;
  c.color_gain = {1.1, 1.0, 0.9};
  c.noise_std = 3;
  c.blur_sigma = 0.5;
  return c;
}

// The conditions of client 0 under one event of `kind` at strength `s` (abrupt, severity s).
SiteConditions Under(DriftKind kind, double s) {
  DriftTimeline t;
  t.events.push_back(DriftEvent{.kind = kind, .clients = {0}, .at_frame = 10, .severity = s});
  return ConditionsAt(t, 0, 10, Base());
}

TEST(DriftTimelineTest, DuskDarkens) {
  for (double s : {1.0, 0.5}) {
    const SiteConditions c = Under(DriftKind::kDusk, s);
    EXPECT_DOUBLE_EQ(c.exposure, s == 1.0 ? 0.36 : 0.63);
    EXPECT_DOUBLE_EQ(c.gamma, s == 1.0 ? 1.65 : 1.375);
    EXPECT_EQ(c.contrast, 0.8);
    EXPECT_EQ(c.haze, 0.2);
  }
}

TEST(DriftTimelineTest, FogLowersContrastAndVeils) {
  for (double s : {1.0, 0.5}) {
    const SiteConditions c = Under(DriftKind::kFog, s);
    EXPECT_DOUBLE_EQ(c.contrast, s == 1.0 ? 0.36 : 0.58);
    EXPECT_DOUBLE_EQ(c.haze, s == 1.0 ? 0.6 : 0.4);
    EXPECT_EQ(c.exposure, 0.9);
  }
}

TEST(DriftTimelineTest, DirtyLensBlursAndVeilsSlightly) {
  for (double s : {1.0, 0.5}) {
    const SiteConditions c = Under(DriftKind::kDirtyLens, s);
    EXPECT_DOUBLE_EQ(c.blur_sigma, s == 1.0 ? 2.3 : 1.4);
    EXPECT_DOUBLE_EQ(c.haze, s == 1.0 ? 0.296 : 0.248);
    EXPECT_EQ(c.contrast, 0.8);
  }
}

TEST(DriftTimelineTest, ColorCastTurnsBlue) {
  for (double s : {1.0, 0.5}) {
    const SiteConditions c = Under(DriftKind::kColorCast, s);
    EXPECT_DOUBLE_EQ(c.color_gain[0], s == 1.0 ? 1.485 : 1.2925);
    EXPECT_EQ(c.color_gain[1], 1.0);
    EXPECT_DOUBLE_EQ(c.color_gain[2], s == 1.0 ? 0.585 : 0.7425);
  }
}

TEST(DriftTimelineTest, NoiseAddsSensorNoise) {
  EXPECT_DOUBLE_EQ(Under(DriftKind::kNoise, 1.0).noise_std, 25.0);
  EXPECT_DOUBLE_EQ(Under(DriftKind::kNoise, 0.5).noise_std, 14.0);
  EXPECT_EQ(Under(DriftKind::kNoise, 1.0).blur_sigma, 0.5);
}

TEST(DriftTimelineTest, EventsComposeInOrderAndOnlyForTheirClients) {
  DriftTimeline t;
  t.events.push_back(DriftEvent{.kind = DriftKind::kFog, .clients = {0, 1}, .at_frame = 100});
  t.events.push_back(DriftEvent{.kind = DriftKind::kDirtyLens,
                                .clients = {1, 2},
                                .at_frame = 50,
                                .gradual = true,
                                .ramp_frames = 100,
                                .severity = 1.0});
  const SiteConditions base = Base();
  // Client 1 at frame 99: only the lens, half-way up its ramp.
  SiteConditions c = ConditionsAt(t, 1, 99, base);
  EXPECT_DOUBLE_EQ(c.blur_sigma, 1.4);
  EXPECT_DOUBLE_EQ(c.haze, 0.248);
  EXPECT_EQ(c.contrast, 0.8);
  // Client 1 at frame 200: fog (haze 0.6), then the full lens on top of it.
  c = ConditionsAt(t, 1, 200, base);
  EXPECT_DOUBLE_EQ(c.contrast, 0.36);
  EXPECT_DOUBLE_EQ(c.haze, 1 - 0.4 * 0.88);
  EXPECT_DOUBLE_EQ(c.blur_sigma, 2.3);
  // Client 0 only has fog; client 3 nothing at all, bitwise.
  c = ConditionsAt(t, 0, 200, base);
  EXPECT_DOUBLE_EQ(c.haze, 0.6);
  EXPECT_EQ(c.blur_sigma, 0.5);
  c = ConditionsAt(t, 3, 200, base);
  EXPECT_EQ(c.haze, base.haze);
  EXPECT_EQ(c.contrast, base.contrast);
  EXPECT_EQ(c.blur_sigma, base.blur_sigma);
  // Before any onset the base comes back unchanged.
  c = ConditionsAt(t, 1, 49, base);
  EXPECT_EQ(c.haze, base.haze);
  EXPECT_EQ(c.blur_sigma, base.blur_sigma);

  EXPECT_EQ(DriftOnset(t, 0), 100u);
  EXPECT_EQ(DriftOnset(t, 1), 50u);
  EXPECT_EQ(DriftOnset(t, 2), 50u);
  EXPECT_EQ(DriftOnset(t, 3), std::nullopt);
  EXPECT_EQ(DriftOnset(DriftTimeline{}, 0), std::nullopt);
}

// A white rectangle (rows 6..21, cols 8..19) on black, like a Fashion-MNIST item.
std::vector<uint8_t> Item() {
  std::vector<uint8_t> item(784, 0);
  for (int y = 6; y < 22; ++y) {
    for (int x = 8; x < 20; ++x) item[y * 28 + x] = 255;
  }
  return item;
}

vision::Image RenderUnder(DriftKind kind) {
  DriftTimeline t;
  t.events.push_back(DriftEvent{.kind = kind, .clients = {0}});
  std::mt19937_64 rng(7);
  return vision::RenderFrame(Item(), ConditionsAt(t, 0, 0, SiteConditions{}), rng);
}

vision::Image RenderBase() {
  std::mt19937_64 rng(7);
  return vision::RenderFrame(Item(), SiteConditions{}, rng);
}

double Mean(const vision::Image& img) {
  double sum = 0;
  for (uint8_t v : img.pixels) sum += v;
  return sum / img.pixels.size();
}

double Std(const vision::Image& img) {
  const double mean = Mean(img);
  double sum_sq = 0;
  for (uint8_t v : img.pixels) sum_sq += (v - mean) * (v - mean);
  return std::sqrt(sum_sq / img.pixels.size());
}

// Sum of squared differences of horizontally neighbouring values of one channel.
double EdgeEnergy(const vision::Image& img) {
  double e = 0;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x + 1 < img.width; ++x) {
      const double d =
          img.pixels[(y * img.width + x + 1) * 3] - img.pixels[(y * img.width + x) * 3];
      e += d * d;
    }
  }
  return e;
}

TEST(DriftTimelineTest, RenderedFramesShowTheDrift) {
  const vision::Image base = RenderBase();
  ASSERT_TRUE(base.Valid());
  EXPECT_LT(Mean(RenderUnder(DriftKind::kDusk)), 0.7 * Mean(base));
  EXPECT_LT(Std(RenderUnder(DriftKind::kFog)), 0.5 * Std(base));
  EXPECT_LT(EdgeEnergy(RenderUnder(DriftKind::kDirtyLens)), 0.5 * EdgeEnergy(base));
}

}  // namespace
}  // namespace fedge::sim
