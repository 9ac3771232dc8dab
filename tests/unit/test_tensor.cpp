// Tests of image <-> tensor conversion and whole-file read/write through tensors.
#include <torch/torch.h>

#include "strata/core/error.hpp"
#include "strata/image/tensor.hpp"
#include "testing.hpp"

namespace strata::image {
namespace {

std::string fixture(const std::string& name) {
  return std::string(STRATA_SOURCE_DIR) + "/tests/fixtures/" + name;
}

TEST(ToTensor, ScalesAndPermutesToChw) {
  const torch::Tensor t = read_image(fixture("rgb8_3x2.png"));
  ASSERT_EQ(t.sizes(), (std::vector<std::int64_t>{3, 2, 3}));
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(t[0][0][0].item<float>(), 1.0f);         // red pixel, R
  EXPECT_FLOAT_EQ(t[1][0][1].item<float>(), 1.0f);         // green pixel, G
  EXPECT_FLOAT_EQ(t[2][1][0].item<float>(), 30.0f / 255);  // (10,20,30), B
  EXPECT_FLOAT_EQ(t[0][1][2].item<float>(), 0.0f);
}

TEST(ToTensor, SixteenBitDividesBy65535) {
  const torch::Tensor t = read_image(fixture("gray16_2x2.png"));
  ASSERT_EQ(t.sizes(), (std::vector<std::int64_t>{1, 2, 2}));
  EXPECT_FLOAT_EQ(t[0][0][1].item<float>(), 1.0f / 65535);
  EXPECT_FLOAT_EQ(t[0][1][0].item<float>(), 256.0f / 65535);
  EXPECT_FLOAT_EQ(t[0][1][1].item<float>(), 1.0f);
}

TEST(FromTensor, ClampsRoundsAndMapsNan) {
  const torch::Tensor t =
      torch::tensor({-0.5f, 0.0f, 0.5f / 255, 1.49f / 255, 0.5f, 1.0f, 2.0f, NAN}).view({1, 1, 8});
  const RawImage u8 = from_tensor(t, SampleType::U8);
  EXPECT_EQ(u8.bytes, (std::vector<std::uint8_t>{0, 0, 1, 1, 128, 255, 255, 0}));
  const RawImage u16 = from_tensor(t, SampleType::U16);
  const std::uint16_t* p = u16.data<std::uint16_t>();
  EXPECT_EQ(p[4], 32768);  // 0.5 * 65535 = 32767.5 rounds up
  EXPECT_EQ(p[5], 65535);
  EXPECT_EQ(p[6], 65535);
}

TEST(FromTensor, SixteenBitRoundTripIsExact) {
  torch::Tensor v = torch::arange(0, 65536, torch::kInt32).to(torch::kFloat32).div(65535.0);
  const RawImage img = from_tensor(v.view({1, 256, 256}), SampleType::U16);
  const std::uint16_t* p = img.data<std::uint16_t>();
  for (int i = 0; i < 65536; i += 1) ASSERT_EQ(p[i], i);
  EXPECT_EQ(testing::max_abs_diff(to_tensor(img), v.view({1, 256, 256})), 0.0);
}

TEST(FromTensor, AcceptsBatchOfOneAnd2d) {
  EXPECT_EQ(from_tensor(torch::zeros({1, 3, 4, 5}), SampleType::U8).channels, 3);
  EXPECT_EQ(from_tensor(torch::zeros({4, 5}), SampleType::U8).channels, 1);
  EXPECT_THROW(from_tensor(torch::zeros({2, 3, 4, 5}), SampleType::U8), Error);
  EXPECT_THROW(from_tensor(torch::zeros({5}), SampleType::U8), Error);
}

TEST(ReadWrite, EveryFormatAndDepthRoundTrips) {
  testing::TempDir dir;
  torch::manual_seed(3);
  const torch::Tensor rgb = torch::rand({3, 17, 29});
  // Writers round half up: floor(x * scale + 0.5).
  const torch::Tensor q8 = rgb.mul(255).add(0.5).floor().div(255);
  const torch::Tensor q16 = rgb.mul(65535).add(0.5).floor().div(65535);
  write_image(dir.file("a.png"), rgb);
  EXPECT_LT(testing::max_abs_diff(read_image(dir.file("a.png")), q8), 1e-6);
  WriteOptions deep;
  deep.depth = BitDepth::U16;
  write_image(dir.file("b.png"), rgb, deep);
  EXPECT_LT(testing::max_abs_diff(read_image(dir.file("b.png")), q16), 1e-7);
  write_image(dir.file("c.pfm"), rgb.mul(7) - 3);
  EXPECT_EQ(testing::max_abs_diff(read_image(dir.file("c.pfm")), rgb.mul(7) - 3), 0.0);
  const torch::Tensor flow = torch::randn({2, 9, 11}) * 20;
  write_image(dir.file("d.flo"), flow);
  EXPECT_EQ(testing::max_abs_diff(read_image(dir.file("d.flo")), flow), 0.0);
  write_image(dir.file("e.jpg"), rgb);
  EXPECT_EQ(read_image(dir.file("e.jpg")).sizes(), rgb.sizes());
}

TEST(ReadWrite, ChannelModes) {
  ReadOptions gray;
  gray.mode = ChannelMode::Gray;
  const torch::Tensor g = read_image(fixture("rgb8_3x2.png"), gray);
  ASSERT_EQ(g.size(0), 1);
  EXPECT_NEAR(g[0][0][0].item<float>(), 0.299f, 1e-6);
  ReadOptions rgb;
  rgb.mode = ChannelMode::Rgb;
  const torch::Tensor r = read_image(fixture("ga8_2x1.png"), rgb);  // alpha dropped, gray -> RGB
  ASSERT_EQ(r.size(0), 3);
  EXPECT_FLOAT_EQ(r[2][0][1].item<float>(), 100.0f / 255);
  const torch::Tensor rgba = read_image(fixture("palette2_4x1.png"), rgb);
  ASSERT_EQ(rgba.size(0), 3);
  EXPECT_FLOAT_EQ(rgba[1][0][2].item<float>(), 1.0f);
}

TEST(ReadWrite, ErrorsNameTheFile) {
  testing::TempDir dir;
  try {
    write_image(dir.file("x.pfm"), torch::zeros({2, 4, 4}));  // PFM holds 1 or 3 channels
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.path(), dir.file("x.pfm"));
  }
  EXPECT_THROW(write_image(dir.file("x.tiff"), torch::zeros({3, 4, 4})), Error);
  EXPECT_TRUE(dir.list().empty());
}

TEST(ReadWrite, CudaTensorsAreWritable) {
  STRATA_REQUIRE_CUDA();
  testing::TempDir dir;
  const torch::Tensor t = torch::rand({3, 8, 8});
  write_image(dir.file("g.pfm"), t.cuda());
  EXPECT_EQ(testing::max_abs_diff(read_image(dir.file("g.pfm")), t), 0.0);
}

}  // namespace
}  // namespace strata::image
