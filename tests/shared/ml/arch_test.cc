#include "shared/ml/weights/arch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fedge::ml {
namespace {

using shared::Code;

TEST(ArchTest, PlainNamesHaveTheDefaultWidths) {
  auto small = ParseArch("cnn_small");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->name, "cnn_small");
  EXPECT_EQ(small->Width("c1"), 32);
  EXPECT_EQ(small->Width("c2"), 64);
  EXPECT_EQ(small->Width("f1"), 128);
  EXPECT_EQ(small->Width("f2"), -1);  // the head is not a width
  EXPECT_EQ(small->flatten_spatial, 25);
  auto color = ParseArch("cnn_color");
  ASSERT_TRUE(color.ok());
  EXPECT_EQ(color->Width("c3"), 64);
  EXPECT_EQ(color->channels, 3);
  EXPECT_EQ(color->flatten_spatial, 16);
  auto mobile = ParseArch("mobilenet_small");
  ASSERT_TRUE(mobile.ok());
  EXPECT_FALSE(mobile->IsChain());
}

TEST(ArchTest, WidthsSetTheLayerShapes) {
  auto info = ParseArch("cnn_color/c1=16,c2=32,c3=24,f1=64");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "cnn_color/c1=16,c2=32,c3=24,f1=64");
  EXPECT_EQ(info->base, "cnn_color");
  const auto layout = ChainStateLayout(*info);
  ASSERT_EQ(layout.size(), 10u);
  EXPECT_EQ(layout[0].first, "c1.weight");
  EXPECT_EQ(layout[0].second, (std::vector<int64_t>{16, 3, 3, 3}));
  EXPECT_EQ(layout[2].second, (std::vector<int64_t>{32, 16, 3, 3}));
  EXPECT_EQ(layout[4].second, (std::vector<int64_t>{24, 32, 3, 3}));
  EXPECT_EQ(layout[6].second, (std::vector<int64_t>{64, 24 * 16}));
  EXPECT_EQ(layout[8].second, (std::vector<int64_t>{10, 64}));
  EXPECT_EQ(layout[9].first, "f2.bias");
}

TEST(ArchTest, FormatGivesTheOneCanonicalSpelling) {
  auto name = FormatArch("cnn_small", {16, 32, 64});
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "cnn_small/c1=16,c2=32,f1=64");
  EXPECT_TRUE(ParseArch(*name).ok());
  auto defaults = FormatArch("cnn_small", {32, 64, 128});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(*defaults, "cnn_small");
  EXPECT_EQ(FormatArch("cnn_small", {16, 32}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(FormatArch("cnn_small", {0, 32, 64}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(FormatArch("resnet", {1}).status().code(), Code::kInvalidArgument);
}

TEST(ArchTest, MalformedStringsAreInvalidArgumentWithTheReason) {
  struct Case {
    std::string arch;
    std::string expect;  // a part of the message
  };
  const std::vector<Case> cases = {
      {"resnet", "known: cnn_small, cnn_color, mobilenet_small"},
      {"resnet/c1=3", "unknown model architecture"},
      {"mobilenet_small/c1=8", "takes no width parameters"},
      {"cnn_color/", "exactly c1,c2,c3,f1"},
      {"cnn_color/c1=16,c2=32,c3=24", "exactly c1,c2,c3,f1"},
      {"cnn_color/c1=16,c2=32,c3=24,f1=64,f2=10", "got 5 item(s)"},
      {"cnn_color/c2=32,c1=16,c3=24,f1=64", "expected 'c1=<width>'"},
      {"cnn_color/c1=16,c1=32,c3=24,f1=64", "expected 'c2=<width>'"},
      {"cnn_color/c1:16,c2=32,c3=24,f1=64", "item 1 is 'c1:16'"},
      {"cnn_color/c1=0,c2=32,c3=24,f1=64", "width of c1 is '0'"},
      {"cnn_color/c1=016,c2=32,c3=24,f1=64", "leading zeros"},
      {"cnn_color/c1=-4,c2=32,c3=24,f1=64", "width of c1"},
      {"cnn_color/c1=4097,c2=32,c3=24,f1=64", "[1, 4096]"},
      {"cnn_color/c1= 16,c2=32,c3=24,f1=64", "width of c1"},
      {"cnn_color/c1=16,c2=32,c3=24,f1=", "width of f1 is ''"},
      {"cnn_color/c1=32,c2=64,c3=64,f1=128", "write 'cnn_color'"},
      {"cnn_small/c1=16,c2=32,f1=64/", "width of f1"},
  };
  for (const Case& c : cases) {
    auto info = ParseArch(c.arch);
    ASSERT_FALSE(info.ok()) << c.arch;
    EXPECT_EQ(info.status().code(), Code::kInvalidArgument) << c.arch;
    EXPECT_NE(info.status().message().find(c.expect), std::string::npos)
        << c.arch << ": " << info.status().message();
  }
}

}  // namespace
}  // namespace fedge::ml
