// Codec tests: known-pixel fixtures (hand-encoded, see tests/fixtures/make_fixtures.py) and
// encode/decode round-trips for every format, bit depth and channel count.
#include <cstring>
#include <random>

#include "strata/core/error.hpp"
#include "strata/image/codec.hpp"
#include "testing.hpp"

namespace strata::image {
namespace {

std::string fixture(const std::string& name) {
  return std::string(STRATA_SOURCE_DIR) + "/tests/fixtures/" + name;
}

RawImage random_image(int w, int h, int c, SampleType t, unsigned seed) {
  RawImage img(w, h, c, t);
  std::mt19937 rng(seed);
  if (t == SampleType::F32) {
    std::normal_distribution<float> d(0.f, 100.f);
    for (std::size_t i = 0; i < img.num_samples(); ++i) img.data<float>()[i] = d(rng);
  } else {
    for (auto& b : img.bytes) b = static_cast<std::uint8_t>(rng());
  }
  return img;
}

void expect_same(const RawImage& a, const RawImage& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.channels, b.channels);
  EXPECT_EQ(a.type, b.type);
  EXPECT_TRUE(a.bytes == b.bytes);
}

TEST(PngFixture, Rgb8KnownPixels) {
  const RawImage img = read_raw(fixture("rgb8_3x2.png"));
  ASSERT_EQ(img.width, 3);
  ASSERT_EQ(img.height, 2);
  ASSERT_EQ(img.channels, 3);
  ASSERT_EQ(img.type, SampleType::U8);
  const std::vector<std::uint8_t> expected = {255, 0,  0,  0,   255, 0,   0, 0, 255,
                                              10,  20, 30, 255, 255, 255, 0, 0, 0};
  EXPECT_EQ(img.bytes, expected);
}

TEST(PngFixture, Gray16KnownPixelsInHostOrder) {
  const RawImage img = read_raw(fixture("gray16_2x2.png"));
  ASSERT_EQ(img.type, SampleType::U16);
  ASSERT_EQ(img.channels, 1);
  const std::uint16_t* p = img.data<std::uint16_t>();
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[1], 1);
  EXPECT_EQ(p[2], 256);
  EXPECT_EQ(p[3], 65535);
}

TEST(PngFixture, PaletteExpandsToRgbaWithTransparency) {
  const RawImage img = read_raw(fixture("palette2_4x1.png"));
  ASSERT_EQ(img.channels, 4);
  ASSERT_EQ(img.type, SampleType::U8);
  const std::vector<std::uint8_t> expected = {0, 0,   0, 0,   255, 0, 0,   128,
                                              0, 255, 0, 255, 0,   0, 255, 255};
  EXPECT_EQ(img.bytes, expected);
}

TEST(PngFixture, OneBitGrayExpandsTo0And255) {
  const RawImage img = read_raw(fixture("gray1_8x1.png"));
  ASSERT_EQ(img.channels, 1);
  const std::vector<std::uint8_t> expected = {255, 0, 255, 255, 0, 0, 255, 0};
  EXPECT_EQ(img.bytes, expected);
}

TEST(PngFixture, GrayAlpha) {
  const RawImage img = read_raw(fixture("ga8_2x1.png"));
  ASSERT_EQ(img.channels, 2);
  EXPECT_EQ(img.bytes, (std::vector<std::uint8_t>{50, 200, 100, 0}));
}

class PngRoundTrip : public ::testing::TestWithParam<std::tuple<int, SampleType>> {};

TEST_P(PngRoundTrip, IsLossless) {
  const auto [channels, type] = GetParam();
  for (int level : {0, 6, 9}) {
    const RawImage img = random_image(37, 23, channels, type, 1u + channels);
    const auto bytes = encode_png(img, level);
    expect_same(decode(bytes.data(), bytes.size()), img);
  }
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, PngRoundTrip,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4),
                                            ::testing::Values(SampleType::U8, SampleType::U16)));

TEST(JpegRoundTrip, SmoothImageIsCloseAtHighQuality) {
  for (int c : {1, 3}) {
    RawImage img(64, 48, c, SampleType::U8);
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x)
        for (int k = 0; k < c; ++k)
          img.bytes[(static_cast<std::size_t>(y) * 64 + x) * c + k] =
              static_cast<std::uint8_t>(40 + 2 * x + y + 10 * k);
    const auto bytes = encode_jpeg(img, 98);
    const RawImage back = decode(bytes.data(), bytes.size());
    ASSERT_EQ(back.channels, c);
    ASSERT_EQ(back.width, 64);
    int worst = 0;
    for (std::size_t i = 0; i < img.bytes.size(); ++i)
      worst = std::max(worst, std::abs(int(img.bytes[i]) - int(back.bytes[i])));
    EXPECT_LE(worst, 3) << "channels " << c;
  }
}

TEST(JpegRoundTrip, LowerQualityGivesSmallerFiles) {
  const RawImage img = random_image(64, 64, 3, SampleType::U8, 7);
  EXPECT_LT(encode_jpeg(img, 10).size(), encode_jpeg(img, 90).size());
}

TEST(PfmRoundTrip, IsBitExactForGrayAndColour) {
  for (int c : {1, 3}) {
    const RawImage img = random_image(19, 11, c, SampleType::F32, 3u + c);
    const auto bytes = encode_pfm(img);
    expect_same(decode(bytes.data(), bytes.size()), img);
  }
}

TEST(PfmFixture, BottomToTopRowsAndEndianness) {
  // 1x2 gray, little-endian (scale -1): file rows are bottom first, so the top pixel is 2.0.
  std::string le = "Pf\n1 2\n-1.0\n";
  const float v[2] = {1.0f, 2.0f};
  std::vector<std::uint8_t> bytes(le.begin(), le.end());
  bytes.insert(bytes.end(), reinterpret_cast<const std::uint8_t*>(v),
               reinterpret_cast<const std::uint8_t*>(v) + 8);
  RawImage img = decode(bytes.data(), bytes.size());
  EXPECT_EQ(img.data<float>()[0], 2.0f);
  EXPECT_EQ(img.data<float>()[1], 1.0f);
  // Big-endian (positive scale) with the same values.
  std::string be = "Pf\n1 2\n1.0\n";
  std::vector<std::uint8_t> bbytes(be.begin(), be.end());
  for (float f : v) {
    std::uint8_t b[4];
    std::memcpy(b, &f, 4);
    bbytes.insert(bbytes.end(), {b[3], b[2], b[1], b[0]});
  }
  img = decode(bbytes.data(), bbytes.size());
  EXPECT_EQ(img.data<float>()[0], 2.0f);
  EXPECT_EQ(img.data<float>()[1], 1.0f);
}

TEST(FloRoundTrip, IsBitExactAndHasMiddleburyLayout) {
  const RawImage img = random_image(5, 3, 2, SampleType::F32, 11);
  const auto bytes = encode_flo(img);
  ASSERT_EQ(bytes.size(), 12u + 5 * 3 * 2 * 4);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "PIEH");
  std::int32_t w, h;
  std::memcpy(&w, bytes.data() + 4, 4);
  std::memcpy(&h, bytes.data() + 8, 4);
  EXPECT_EQ(w, 5);
  EXPECT_EQ(h, 3);
  expect_same(decode(bytes.data(), bytes.size()), img);
}

TEST(Encode, RejectsLayoutsAFormatCannotHold) {
  EXPECT_THROW(encode_png(random_image(4, 4, 1, SampleType::F32, 1), 6), Error);
  EXPECT_THROW(encode_png(random_image(4, 4, 5, SampleType::U8, 1), 6), Error);
  EXPECT_THROW(encode_jpeg(random_image(4, 4, 4, SampleType::U8, 1), 90), Error);
  EXPECT_THROW(encode_jpeg(random_image(4, 4, 3, SampleType::U16, 1), 90), Error);
  EXPECT_THROW(encode_jpeg(random_image(4, 4, 3, SampleType::U8, 1), 0), Error);
  EXPECT_THROW(encode_pfm(random_image(4, 4, 2, SampleType::F32, 1)), Error);
  EXPECT_THROW(encode_flo(random_image(4, 4, 3, SampleType::F32, 1)), Error);
}

TEST(WriteRaw, ChoosesFormatByExtensionAndWritesAtomically) {
  testing::TempDir dir;
  const RawImage img = random_image(8, 8, 3, SampleType::U8, 5);
  write_raw(dir.file("a.png"), img);
  write_raw(dir.file("b.JPG"), img);
  EXPECT_EQ(read_raw(dir.file("a.png")).bytes, img.bytes);
  EXPECT_EQ(read_raw(dir.file("b.JPG")).channels, 3);
  EXPECT_THROW(write_raw(dir.file("c.bmp"), img), Error);
  // A layout the format cannot hold fails before anything is written.
  EXPECT_THROW(write_raw(dir.file("d.pfm"), img), Error);
  EXPECT_EQ(dir.list(), (std::vector<std::string>{"a.png", "b.JPG"}));
}

TEST(Sniff, RecognisesMagicNumbers) {
  const std::uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const std::uint8_t jpg[3] = {0xff, 0xd8, 0xff};
  EXPECT_EQ(sniff_format(png, 8), Format::Png);
  EXPECT_EQ(sniff_format(jpg, 3), Format::Jpeg);
  EXPECT_EQ(sniff_format(reinterpret_cast<const std::uint8_t*>("PIEH"), 4), Format::Flo);
  EXPECT_EQ(sniff_format(reinterpret_cast<const std::uint8_t*>("PF\n"), 3), Format::Pfm);
  EXPECT_EQ(sniff_format(reinterpret_cast<const std::uint8_t*>("BM.."), 4), Format::Unknown);
  EXPECT_EQ(format_from_path("x/y.Jpeg"), Format::Jpeg);
  EXPECT_EQ(format_from_path("x/y.tif"), Format::Unknown);
}

TEST(RealData, BsdsJpegAndGroundTruthPng) {
  const std::string jpg = testing::data_path("bsds500/images/test/100007.jpg");
  const std::string gt = testing::data_path("bsds500/gt/test/100007_1.png");
  if (!testing::exists(jpg) || !testing::exists(gt)) GTEST_SKIP() << "shared data not present";
  const RawImage img = read_raw(jpg);
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.width * img.height, 481 * 321);
  const RawImage edges = read_raw(gt);
  EXPECT_EQ(edges.channels, 1);
  EXPECT_EQ(edges.width, img.width);
  for (auto v : edges.bytes) ASSERT_TRUE(v == 0 || v == 255);
}

}  // namespace
}  // namespace strata::image
