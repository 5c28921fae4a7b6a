// Capture files: what the writer writes the reader returns byte for byte; a damaged file (cut
// short, lying length, wrong magic/version/ABI) is reported with its offset, never misread.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "event_header.h"
#include "events/capture_file.h"
#include "events/capture_format.h"
#include "support/test_support.h"
#include "unit/events_test_records.h"

namespace {

using vigil::events::CaptureReader;
using vigil::events::CaptureWriter;
using vigil::events::TimeAnchor;
using Bytes = std::vector<std::uint8_t>;

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<Bytes> sample_records() {
  return {vigil::test::record_bytes(vigil::test::make_fork(10, 11)),
          vigil::test::record_bytes(vigil::test::make_exec(11, "/usr/bin/id", {"id", "-u"})),
          Bytes{1, 2, 3},  // framing does not care what a record holds
          vigil::test::record_bytes(vigil::test::make_exit(11, 0))};
}

std::vector<Bytes> read_all(CaptureReader& reader) {
  std::vector<Bytes> records;
  for (;;) {
    auto record = reader.next();
    EXPECT_TRUE(record) << record.error().message;
    if (!record || !*record) break;
    records.emplace_back((*record)->begin(), (*record)->end());
  }
  return records;
}

TEST(EventsCaptureFile, WriteThenReadRoundTrip) {
  vigil::test::TempDir dir;
  const std::string path = dir / "trace.vcap";
  const TimeAnchor anchor{123'456'789'000ull, 1'700'000'000'123'456'789ll};
  const auto records = sample_records();
  {
    auto writer = CaptureWriter::create(path, anchor);
    ASSERT_TRUE(writer) << writer.error().message;
    for (const auto& record : records) ASSERT_TRUE(writer->write(record));
    EXPECT_EQ(writer->records_written(), records.size());
    ASSERT_TRUE(writer->close());
    EXPECT_FALSE(writer->write(records[0]));  // closed
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // command lines are private

  auto reader = CaptureReader::open(path);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ(reader->header().abi_version, static_cast<std::uint32_t>(VIGIL_ABI_VERSION));
  EXPECT_EQ(reader->header().format_version, vigil::events::kCaptureFormatVersion);
  EXPECT_EQ(reader->header().anchor.boot_ns, anchor.boot_ns);
  EXPECT_EQ(reader->header().anchor.wall_ns, anchor.wall_ns);
  EXPECT_EQ(read_all(*reader), records);
  auto again = reader->next();  // stays at the end
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST(EventsCaptureFile, BytesAreExactlyTheDocumentedLayout) {
  vigil::test::TempDir dir;
  const std::string path = dir / "layout.vcap";
  auto writer = CaptureWriter::create(path, TimeAnchor{0x0102030405060708ull, 0x1112131415161718ll});
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->write(Bytes{0xaa, 0xbb}));
  ASSERT_TRUE(writer->close());
  const Bytes bytes = read_file(path);
  ASSERT_EQ(bytes.size(), 64u + 4 + 2);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "VIGILCAP");
  EXPECT_EQ(bytes[8], 1);    // format version, little-endian
  EXPECT_EQ(bytes[12], 64);  // header size
  EXPECT_EQ(bytes[16], VIGIL_ABI_VERSION);
  EXPECT_EQ(bytes[24], 0x08);  // anchor boot ns, little-endian
  EXPECT_EQ(bytes[31], 0x01);
  EXPECT_EQ(bytes[32], 0x18);
  for (std::size_t i = 40; i < 64; ++i) EXPECT_EQ(bytes[i], 0) << "reserved byte " << i;
  EXPECT_EQ((Bytes(bytes.begin() + 64, bytes.end())), (Bytes{2, 0, 0, 0, 0xaa, 0xbb}));
}

TEST(EventsCaptureFile, LargeCapturesCrossTheReadBuffer) {
  vigil::test::TempDir dir;
  const std::string path = dir / "large.vcap";
  const Bytes exec = vigil::test::record_bytes(vigil::test::make_exec(1, "/bin/true", {"true"}));
  auto writer = CaptureWriter::create(path, {});
  ASSERT_TRUE(writer);
  constexpr std::size_t kCount = 2000;  // ~2.8 MB: many writer flushes and reader refills
  for (std::size_t i = 0; i < kCount; ++i) ASSERT_TRUE(writer->write(exec));
  ASSERT_TRUE(writer->close());
  auto reader = CaptureReader::open(path);
  ASSERT_TRUE(reader);
  std::size_t count = 0;
  while (auto record = reader->next()) {
    if (!*record) break;
    ASSERT_EQ(Bytes((*record)->begin(), (*record)->end()), exec) << "record " << count;
    ++count;
  }
  EXPECT_EQ(count, kCount);
}

TEST(EventsCaptureFile, TruncatedTailIsReportedAfterTheCompleteRecords) {
  Bytes file = vigil::events::encode_capture_header(vigil::events::capture_header_for_this_host({}));
  const auto records = sample_records();
  for (const auto& record : records) vigil::events::append_capture_record(file, record);
  const std::size_t complete = file.size();
  // Cut inside the last record, and inside a length prefix.
  for (std::size_t cut : {complete - 1, complete - records.back().size() - 2}) {
    const Bytes cut_file(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut));
    auto reader = CaptureReader::from_memory(cut_file);
    ASSERT_TRUE(reader);
    for (std::size_t i = 0; i + 1 < records.size(); ++i) {
      auto record = reader->next();
      ASSERT_TRUE(record && *record);
      EXPECT_EQ(Bytes((*record)->begin(), (*record)->end()), records[i]);
    }
    auto tail = reader->next();
    ASSERT_FALSE(tail);
    EXPECT_NE(tail.error().message.find("truncated at offset " + std::to_string(complete - records.back().size() - 4)),
              std::string::npos)
        << tail.error().message;
    auto after = reader->next();
    ASSERT_TRUE(after);
    EXPECT_FALSE(*after);
  }
}

TEST(EventsCaptureFile, TruncatedFileOnDisk) {
  vigil::test::TempDir dir;
  Bytes file = vigil::events::encode_capture_header(vigil::events::capture_header_for_this_host({}));
  vigil::events::append_capture_record(file, Bytes(100, 7));
  file.resize(file.size() - 10);
  write_file(dir / "cut.vcap", file);
  auto reader = CaptureReader::open(dir / "cut.vcap");
  ASSERT_TRUE(reader);
  auto record = reader->next();
  ASSERT_FALSE(record);
  EXPECT_NE(record.error().message.find("truncated at offset 64: record of 100 bytes, only 90 present"),
            std::string::npos)
      << record.error().message;
}

TEST(EventsCaptureFile, LyingLengthIsRefusedBeforeAnyAllocation) {
  Bytes file = vigil::events::encode_capture_header(vigil::events::capture_header_for_this_host({}));
  file.insert(file.end(), {0xff, 0xff, 0xff, 0x7f});
  auto reader = CaptureReader::from_memory(file);
  ASSERT_TRUE(reader);
  auto record = reader->next();
  ASSERT_FALSE(record);
  EXPECT_NE(record.error().message.find("record at offset 64 claims 2147483647 bytes"), std::string::npos)
      << record.error().message;
}

TEST(EventsCaptureFile, HeaderChecks) {
  const Bytes good = vigil::events::encode_capture_header(vigil::events::capture_header_for_this_host({}));
  auto expect_refused = [](const Bytes& bytes, const std::string& why) {
    auto reader = CaptureReader::from_memory(bytes);
    ASSERT_FALSE(reader) << why;
    EXPECT_NE(reader.error().message.find(why), std::string::npos) << reader.error().message;
  };
  expect_refused({}, "shorter than the 64-byte header");
  expect_refused(Bytes(good.begin(), good.begin() + 63), "shorter than the 64-byte header");
  Bytes bad = good;
  bad[0] = 'X';
  expect_refused(bad, "bad magic");
  bad = good;
  bad[8] = 2;
  expect_refused(bad, "capture format version 2");
  bad = good;
  bad[16] = VIGIL_ABI_VERSION + 1;
  expect_refused(bad, "ABI version");
  bad = good;
  bad[20] ^= 0xff;
  expect_refused(bad, "ELF machine");
  bad = good;
  bad[12] = 8;
  expect_refused(bad, "header size 8");
  bad = good;
  bad[12] = 128;  // a longer (future) header: must be present in full
  expect_refused(bad, "truncated inside its 128-byte header");
  bad.resize(128, 0);
  vigil::events::append_capture_record(bad, Bytes{9});
  auto reader = CaptureReader::from_memory(bad);
  ASSERT_TRUE(reader) << reader.error().message;
  auto record = reader->next();
  ASSERT_TRUE(record && *record);
  EXPECT_EQ(Bytes((*record)->begin(), (*record)->end()), Bytes{9});
}

TEST(EventsCaptureFile, WriterRefusesOversizedRecords) {
  vigil::test::TempDir dir;
  auto writer = CaptureWriter::create(dir / "big.vcap", {});
  ASSERT_TRUE(writer);
  auto refused = writer->write(Bytes(vigil::events::kCaptureMaxRecordBytes + 1));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("exceeds"), std::string::npos);
  EXPECT_TRUE(writer->write(Bytes(vigil::events::kCaptureMaxRecordBytes)));
  EXPECT_TRUE(writer->close());
}

TEST(EventsCaptureFile, OpenErrorsNameTheFile) {
  auto reader = CaptureReader::open("/nonexistent/dir/x.vcap");
  ASSERT_FALSE(reader);
  EXPECT_NE(reader.error().message.find("/nonexistent/dir/x.vcap"), std::string::npos);
  auto writer = CaptureWriter::create("/nonexistent/dir/x.vcap", {});
  ASSERT_FALSE(writer);
  EXPECT_NE(writer.error().message.find("/nonexistent/dir/x.vcap"), std::string::npos);
}

}  // namespace
