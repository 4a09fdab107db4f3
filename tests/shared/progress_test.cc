#include "shared/base/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace fedge::shared {
namespace {

// Everything written to a tmpfile.
std::string Contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  return out;
}

struct FakeClock {
  double now = 100.0;
  std::function<double()> fn() {
    return [this] { return now; };
  }
};

TEST(FormatDurationTest, SecondsMinutesHours) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(12.4), "12s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(3720), "1h02m");
  EXPECT_EQ(FormatDuration(-1), "?");
  EXPECT_EQ(FormatDuration(1.0 / 0.0), "?");
}

TEST(ProgressTest, RenderShowsBarCountRateAndEta) {
  FakeClock clock;
  std::FILE* f = std::tmpfile();
  Progress p({.label = "rounds",
              .total = 20,
              .out = f,
              .terminal = true,
              .clock = clock.fn(),
              .bar_width = 10});
  // 5 of 20 in 10 s: 0.5/s, 15 left -> 30 s.
  EXPECT_EQ(p.Render(5, 10.0, true), "rounds [##........] 5/20  0.50/s  ETA 30s");
  EXPECT_EQ(p.Render(5, 10.0, false), "rounds: 5/20 (25%), 0.50/s, ETA 30s");
  EXPECT_EQ(p.Render(20, 40.0, false), "rounds: 20/20 (100%), 0.50/s, took 40s");
  EXPECT_EQ(p.Render(0, 0.0, true), "rounds [..........] 0/20");
  p.Finish();
  std::fclose(f);
}

TEST(ProgressTest, TerminalRedrawsOneLineAndPrintsLinesAboveIt) {
  FakeClock clock;
  std::FILE* f = std::tmpfile();
  {
    Progress p({.label = "kits",
                .total = 4,
                .out = f,
                .terminal = true,
                .clock = clock.fn(),
                .bar_width = 4});
    clock.now += 1;
    p.Set(1);
    clock.now += 0.01;  // within redraw_seconds: not drawn
    p.Set(2);
    p.Println("site-003 ready");
    clock.now += 1;
    p.Add(2, "done");
  }  // the destructor finishes
  const std::string out = Contents(f);
  std::fclose(f);
  EXPECT_EQ(out,
            "\r\033[Kkits [#...] 1/4  1.0/s  ETA 3s"
            "\r\033[Ksite-003 ready\n"
            "\r\033[Kkits [##..] 2/4  2.0/s  ETA 1s"
            "\r\033[Kkits [####] 4/4  2.0/s  took 2s  done"
            "\r\033[Kkits [####] 4/4  2.0/s  took 2s  done\n");
}

TEST(ProgressTest, PlainModePrintsAtMostOneLinePerStepAndNoControlCharacters) {
  FakeClock clock;
  std::FILE* f = std::tmpfile();
  Progress p({.label = "rounds",
              .total = 10,
              .out = f,
              .terminal = false,
              .plain_every = 0.5,
              .clock = clock.fn()});
  for (uint64_t i = 1; i <= 10; ++i) {
    clock.now += 2;
    p.Set(i, "acc 0." + std::to_string(i));
  }
  p.Finish();
  p.Finish();  // idempotent
  const std::string out = Contents(f);
  std::fclose(f);
  EXPECT_EQ(out,
            "rounds: 5/10 (50%), 0.50/s, ETA 10s, acc 0.5\n"
            "rounds: 10/10 (100%), 0.50/s, took 20s, acc 0.10\n");
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\033'), std::string::npos);
}

TEST(ProgressTest, ByteAmountsAndRates) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(12500), "12.5 kB");
  EXPECT_EQ(FormatBytes(3.4e6), "3.4 MB");
  EXPECT_EQ(FormatBytes(1.2e9), "1.20 GB");
  FakeClock clock;
  std::FILE* f = std::tmpfile();
  Progress::Options o;
  o.label = "download";
  o.total = 40'000'000;
  o.out = f;
  o.terminal = false;
  o.clock = clock.fn();
  o.bytes = true;
  Progress p(o);
  // 10 MB of 40 MB in 2 s: 5 MB/s, 6 s left.
  EXPECT_EQ(p.Render(10'000'000, 2.0, false),
            "download: 10.0 MB of 40.0 MB (25%), 5.0 MB/s, ETA 6s");
  p.Finish();
  std::fclose(f);
}

TEST(ProgressTest, UnknownTotalShowsCountAndRateOnly) {
  FakeClock clock;
  std::FILE* f = std::tmpfile();
  Progress p({.label = "chunks", .total = 0, .out = f, .terminal = false, .clock = clock.fn()});
  clock.now += 4;
  EXPECT_EQ(p.Render(8, 4.0, false), "chunks: 8, 2.0/s");
  EXPECT_EQ(p.Render(8, 4.0, true), "chunks 8  2.0/s");
  p.Finish();
  std::fclose(f);
}

}  // namespace
}  // namespace fedge::shared
