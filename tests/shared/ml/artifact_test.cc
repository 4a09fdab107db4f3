#include "shared/ml/weights/artifact.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "shared/ml/weights/accuracy_gate.h"

namespace fedge::ml {
namespace {

using shared::Code;

Artifact Sample() {
  Artifact a;
  a.arch = "cnn_small/c1=16,c2=32,f1=64";
  a.input_shape = {1, 28, 28};
  a.num_classes = 10;
  shared::TensorBundle bundle;
  bundle.tensors.push_back({"c1.weight", {2, 1, 3, 3}, {}});
  for (int i = 0; i < 18; ++i) bundle.tensors[0].data.push_back(0.1f * (i - 9));
  bundle.tensors.push_back({"c1.bias", {2}, {0.5f, -1.5f}});
  a.tensors = QuantizeBundle(bundle, QuantScheme::kInt8PerChannel).value();
  a.drift_profile = {1, 2, 3, 250, 0, 7};
  a.model_id = "site-cams";
  a.version = 7;
  a.parent_version = 6;
  a.created_unix = 1700000000;
  a.recipe = {"l1_channels", 0.5, true, "int8_per_channel", "2 central epochs"};
  a.metrics = {{"accuracy", 0.8812}, {"macro_f1", 0.8790}};
  a.compatibility = {a.arch, {1, 28, 28}, "1.2.0"};
  return a;
}

std::vector<uint8_t> Encode(const Artifact& a) {
  auto bytes = EncodeArtifact(a);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

TEST(ArtifactTest, RoundTripKeepsEveryField) {
  const Artifact a = Sample();
  const std::vector<uint8_t> bytes = Encode(a);
  ASSERT_GE(bytes.size(), 12u);
  EXPECT_EQ(bytes[0] | bytes[1] << 8 | bytes[2] << 16 | bytes[3] << 24, bytes.size() - 4);
  EXPECT_EQ(std::string(bytes.begin() + 8, bytes.begin() + 12), "FDGA");
  auto back = DecodeArtifact(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->arch, a.arch);
  EXPECT_EQ(back->input_shape, a.input_shape);
  EXPECT_EQ(back->num_classes, 10);
  ASSERT_EQ(back->tensors.size(), 2u);
  EXPECT_EQ(back->tensors[0].type, StoredType::kInt8);
  EXPECT_EQ(back->tensors[0].q, a.tensors[0].q);
  EXPECT_EQ(back->tensors[0].scales, a.tensors[0].scales);
  EXPECT_EQ(back->tensors[0].shape, a.tensors[0].shape);
  EXPECT_EQ(back->tensors[1].type, StoredType::kFp32);
  EXPECT_EQ(back->tensors[1].values, a.tensors[1].values);
  EXPECT_EQ(back->drift_profile, a.drift_profile);
  EXPECT_EQ(back->model_id, "site-cams");
  EXPECT_EQ(back->version, 7u);
  EXPECT_EQ(back->parent_version, 6u);
  EXPECT_EQ(back->created_unix, 1700000000);
  EXPECT_EQ(back->recipe.prune_method, "l1_channels");
  EXPECT_EQ(back->recipe.prune_fraction, 0.5);
  EXPECT_TRUE(back->recipe.prune_hidden);
  EXPECT_EQ(back->recipe.quantization, "int8_per_channel");
  EXPECT_EQ(back->recipe.fine_tuning, "2 central epochs");
  EXPECT_EQ(back->metrics, a.metrics);
  EXPECT_EQ(back->compatibility.arch, a.arch);
  EXPECT_EQ(back->compatibility.input_shape, (std::vector<uint32_t>{1, 28, 28}));
  EXPECT_EQ(back->compatibility.min_client_version, "1.2.0");
  // Deterministic bytes; the state dequantises.
  EXPECT_EQ(Encode(*back), bytes);
  auto state = ArtifactState(*back);
  ASSERT_TRUE(state.ok());
  EXPECT_NEAR(state->tensors[0].data[0], -0.9f, 0.5f * a.tensors[0].scales[0]);
  EXPECT_EQ(state->tensors[1].data, (std::vector<float>{0.5f, -1.5f}));
}

TEST(ArtifactTest, TruncatedOrFlippedBytesAreErrorsNeverCrashes) {
  const std::vector<uint8_t> bytes = Encode(Sample());
  ASSERT_FALSE(bytes.empty());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodeArtifact(std::span(bytes.data(), n));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_TRUE(r.status().code() == Code::kCorruption ||
                r.status().code() == Code::kInvalidArgument)
        << r.status().ToString();
  }
  // Every single-byte corruption is either caught or decodes to a valid artifact.
  int caught = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> bad = bytes;
    bad[i] ^= 0xA5;
    auto r = DecodeArtifact(bad);
    if (!r.ok()) {
      ++caught;
      EXPECT_TRUE(r.status().code() == Code::kCorruption ||
                  r.status().code() == Code::kInvalidArgument)
          << r.status().ToString();
    } else {
      EXPECT_TRUE(ValidateArtifact(*r).ok());
    }
  }
  EXPECT_GT(caught, 0);
  std::vector<uint8_t> padded = bytes;
  padded.push_back(0);
  EXPECT_EQ(DecodeArtifact(padded).status().code(), Code::kCorruption);
  auto id = DecodeArtifact(std::vector<uint8_t>(64, 0));
  EXPECT_EQ(id.status().code(), Code::kCorruption);
  EXPECT_NE(id.status().message().find("FDGA"), std::string::npos);
}

TEST(ArtifactTest, SizeCapIsCheckedFirst) {
  const std::vector<uint8_t> bytes = Encode(Sample());
  ArtifactLimits limits;
  limits.max_bytes = bytes.size() - 1;
  EXPECT_EQ(DecodeArtifact(bytes, limits).status().code(), Code::kResourceExhausted);
  EXPECT_EQ(EncodeArtifact(Sample(), limits).status().code(), Code::kResourceExhausted);
  limits.max_bytes = bytes.size();
  EXPECT_TRUE(DecodeArtifact(bytes, limits).ok());
}

// Each broken field is refused by the encoder, with a message naming it.
TEST(ArtifactTest, InconsistentArtifactsAreInvalidArgument) {
  struct Case {
    const char* what;
    void (*mutate)(Artifact&);
  };
  const Case cases[] = {
      {"scales", [](Artifact& a) { a.tensors[0].scales.push_back(1.0f); }},
      {"holds 17 values, want 18", [](Artifact& a) { a.tensors[0].q.pop_back(); }},
      {"holds 3 values, want 2", [](Artifact& a) { a.tensors[1].values.push_back(0); }},
      {"non-finite", [](Artifact& a) { a.tensors[1].values[1] = std::nanf(""); }},
      {"duplicate tensor", [](Artifact& a) { a.tensors[1].name = "c1.weight"; }},
      {"input_shape",
       [](Artifact& a) {
         a.input_shape = {1, 28};
       }},
      {"num_classes", [](Artifact& a) { a.num_classes = 0; }},
      {"model_id", [](Artifact& a) { a.model_id = "../etc"; }},
      {"parent_version", [](Artifact& a) { a.parent_version = 7; }},
      {"quantization", [](Artifact& a) { a.recipe.quantization = "int4"; }},
      {"prune_fraction", [](Artifact& a) { a.recipe.prune_fraction = 1.5; }},
      {"metric", [](Artifact& a) { a.metrics["loss"] = INFINITY; }},
      {"compatibility", [](Artifact& a) { a.compatibility.arch = "cnn_small"; }},
      {"compatibility",
       [](Artifact& a) {
         a.compatibility.input_shape = {3, 32, 32};
       }},
      {"min_client_version", [](Artifact& a) { a.compatibility.min_client_version = "1.x"; }},
      {"drift profile", [](Artifact& a) { a.drift_profile.resize((1 << 20) + 1); }},
  };
  for (const Case& c : cases) {
    Artifact a = Sample();
    c.mutate(a);
    auto r = EncodeArtifact(a);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.what;
    EXPECT_NE(r.status().message().find(c.what), std::string::npos)
        << c.what << ": " << r.status().message();
  }
}

// Bytes that verify as FlatBuffers but carry wrong counts (written by a buggy or hostile
// encoder) are caught by the decoder's validation.
TEST(ArtifactTest, DecoderValidatesCountsInVerifiedBuffers) {
  const std::vector<uint8_t> bytes = Encode(Sample());
  auto find = [&](const std::vector<float>& scales) {
    const auto* p = reinterpret_cast<const uint8_t*>(scales.data());
    auto it = std::search(bytes.begin(), bytes.end(), p, p + scales.size() * sizeof(float));
    return it == bytes.end() ? std::string::npos : static_cast<size_t>(it - bytes.begin());
  };
  const Artifact a = Sample();
  const size_t at = find(a.tensors[0].scales);
  ASSERT_NE(at, std::string::npos);
  // The vector's length prefix sits right before its data: claim one scale fewer.
  std::vector<uint8_t> bad = bytes;
  ASSERT_EQ(bad[at - 4], 2);
  bad[at - 4] = 1;  // one scale for the whole tensor: still a valid artifact
  auto one = DecodeArtifact(bad);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->tensors[0].scales.size(), 1u);
  bad[at - 4] = 0;  // no scales on an int8 tensor
  auto none = DecodeArtifact(bad);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kInvalidArgument);
  EXPECT_NE(none.status().message().find("has 0 scales"), std::string::npos)
      << none.status().message();
}

TEST(AccuracyGateTest, PassesWithinTheAllowedDropAndFailsBeyondIt) {
  std::string why;
  EXPECT_TRUE(CheckAccuracyGate(0.875, 0.88, 1.0, &why).ok());
  EXPECT_NE(why.find("passed"), std::string::npos) << why;
  EXPECT_NE(why.find("drop of 0.50 points"), std::string::npos) << why;
  EXPECT_TRUE(CheckAccuracyGate(0.90, 0.88, 0.0, &why).ok());  // better passes
  EXPECT_NE(why.find("gain of 2.00"), std::string::npos) << why;
  shared::Status fail = CheckAccuracyGate(0.862, 0.88, 1.0, &why);
  EXPECT_EQ(fail.code(), Code::kPermissionDenied);
  EXPECT_EQ(fail.message(), why);
  EXPECT_NE(why.find("failed: candidate 86.20% vs current release 88.00%, a drop of 1.80 points "
                     "> max drop 1.00"),
            std::string::npos)
      << why;
  EXPECT_TRUE(CheckAccuracyGate(0.87, 0.88, 1.0 + 1e-9).ok());  // exactly at the limit
  EXPECT_FALSE(CheckAccuracyGate(0.87, 0.88, 0.99).ok());
}

TEST(AccuracyGateTest, RejectsOutOfRangeInputs) {
  EXPECT_EQ(CheckAccuracyGate(1.2, 0.9, 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckAccuracyGate(0.9, -0.1, 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckAccuracyGate(std::nan(""), 0.9, 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckAccuracyGate(0.9, 0.9, -1).code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckAccuracyGate(0.9, 0.9, INFINITY).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace fedge::ml
