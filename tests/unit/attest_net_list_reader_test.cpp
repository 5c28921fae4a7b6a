// The agent's incremental reader of binary_runtime_measurements (src/attest/net/list_reader.h).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "attest/net/list_reader.h"
#include "support/test_support.h"

namespace vigil::attest {
namespace {

ima::MeasurementEntry make_entry(int n, ima::TemplateName template_name = ima::TemplateName::ima_ng) {
  ima::MeasurementEntry entry;
  entry.template_name = template_name;
  entry.path = "/usr/bin/tool-" + std::to_string(n);
  const crypto::HashAlgo algo = template_name == ima::TemplateName::ima ? crypto::HashAlgo::sha1 : crypto::HashAlgo::sha256;
  entry.file_digest.algo = algo;
  entry.file_digest.size = static_cast<uint8_t>(crypto::hash_size(algo));
  for (size_t i = 0; i < entry.file_digest.size; ++i) entry.file_digest.bytes[i] = static_cast<uint8_t>(n * 31 + i);
  ima::compute_template_hashes(entry);
  return entry;
}

void append_bytes(const std::string& path, std::span<const uint8_t> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

void append_entry(const std::string& path, const ima::MeasurementEntry& entry) {
  append_bytes(path, ima::binary_record(entry));
}

std::vector<std::string> paths_of(const std::vector<ima::MeasurementEntry>& entries) {
  std::vector<std::string> paths;
  for (const auto& entry : entries) paths.push_back(entry.path);
  return paths;
}

TEST(IncrementalListReader, ReadsOnlyNewRecordsEachRound) {
  test::TempDir dir;
  const std::string path = dir / "binary_runtime_measurements";
  for (int i = 0; i < 3; ++i) append_entry(path, make_entry(i));
  IncrementalListReader reader(path);
  auto first = reader.read_from(0);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[2], make_entry(2));
  const uint64_t after_first = reader.bytes_read();
  EXPECT_EQ(reader.indexed_records(), 3u);

  const auto fourth = ima::binary_record(make_entry(3));
  append_entry(path, make_entry(3));
  auto second = reader.read_from(3);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(paths_of(*second), std::vector<std::string>{"/usr/bin/tool-3"});
  EXPECT_EQ(reader.bytes_read() - after_first, fourth.size()) << "read more than the new record";

  // The verifier accepted only a prefix last time: it asks again from an earlier index, which
  // the reader finds by its remembered offset.
  auto again = reader.read_from(2);
  ASSERT_TRUE(again);
  EXPECT_EQ(paths_of(*again), (std::vector<std::string>{"/usr/bin/tool-2", "/usr/bin/tool-3"}));
  auto none = reader.read_from(4);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(IncrementalListReader, StartBeyondKnownRecordsScansForward) {
  test::TempDir dir;
  const std::string path = dir / "binary_runtime_measurements";
  for (int i = 0; i < 5; ++i) append_entry(path, make_entry(i, i % 2 ? ima::TemplateName::ima : ima::TemplateName::ima_sig));
  IncrementalListReader reader(path);
  auto tail = reader.read_from(3);
  ASSERT_TRUE(tail) << tail.error().message;
  EXPECT_EQ(paths_of(*tail), (std::vector<std::string>{"/usr/bin/tool-3", "/usr/bin/tool-4"}));
  auto beyond = reader.read_from(9);
  ASSERT_FALSE(beyond);
  EXPECT_NE(beyond.error().message.find("has 5"), std::string::npos) << beyond.error().message;
}

TEST(IncrementalListReader, LeavesAPartialRecordForLater) {
  test::TempDir dir;
  const std::string path = dir / "binary_runtime_measurements";
  append_entry(path, make_entry(0));
  const auto record = ima::binary_record(make_entry(1));
  append_bytes(path, std::span(record).first(record.size() - 5));  // being written
  IncrementalListReader reader(path);
  auto partial = reader.read_from(0);
  ASSERT_TRUE(partial) << partial.error().message;
  EXPECT_EQ(partial->size(), 1u);
  append_bytes(path, std::span(record).last(5));
  auto complete = reader.read_from(1);
  ASSERT_TRUE(complete) << complete.error().message;
  ASSERT_EQ(complete->size(), 1u);
  EXPECT_EQ((*complete)[0], make_entry(1));
}

TEST(IncrementalListReader, AShorterFileIsANewList) {
  test::TempDir dir;
  const std::string path = dir / "binary_runtime_measurements";
  for (int i = 0; i < 4; ++i) append_entry(path, make_entry(i));
  IncrementalListReader reader(path);
  ASSERT_TRUE(reader.read_from(0));
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  append_entry(path, make_entry(7));
  auto fresh = reader.read_from(0);
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(paths_of(*fresh), std::vector<std::string>{"/usr/bin/tool-7"});
}

// An agent that sets an unreplayable list aside starts another file under the same name; it
// may already be longer than the old one was when this reader indexed it.
TEST(IncrementalListReader, AnotherFileUnderTheSameNameIsANewList) {
  test::TempDir dir;
  const std::string path = dir / "binary_runtime_measurements";
  append_entry(path, make_entry(0));
  IncrementalListReader reader(path);
  ASSERT_TRUE(reader.read_from(0));
  ASSERT_EQ(::rename(path.c_str(), (path + ".unreplayable-x").c_str()), 0);
  for (int i = 10; i < 14; ++i) append_entry(path, make_entry(i));
  auto fresh = reader.read_from(0);
  ASSERT_TRUE(fresh) << fresh.error().message;
  EXPECT_EQ(paths_of(*fresh), (std::vector<std::string>{"/usr/bin/tool-10", "/usr/bin/tool-11", "/usr/bin/tool-12",
                                                        "/usr/bin/tool-13"}));
}

// An agent that restarted and went on with its list only appended: the index stays valid and
// the next round reads only the new records.
TEST(IncrementalListReader, AListContinuedAfterAnAgentRestartIsReadOnFromTheIndex) {
  test::TempDir dir;
  const std::string path = dir / "binary_runtime_measurements";
  for (int i = 0; i < 3; ++i) append_entry(path, make_entry(i));
  IncrementalListReader reader(path);
  ASSERT_TRUE(reader.read_from(0));
  const uint64_t read_before = reader.bytes_read();
  append_entry(path, make_entry(3));
  auto next = reader.read_from(3);
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(paths_of(*next), std::vector<std::string>{"/usr/bin/tool-3"});
  EXPECT_EQ(reader.bytes_read() - read_before, ima::binary_record(make_entry(3)).size());
}

TEST(IncrementalListReader, CorruptRecordIsAnErrorNamingTheEntry) {
  test::TempDir dir;
  const std::string path = dir / "binary_runtime_measurements";
  append_entry(path, make_entry(0));
  auto bad = ima::binary_record(make_entry(1));
  bad[24] = 0xff;  // template name length
  append_bytes(path, bad);
  IncrementalListReader reader(path);
  auto read = reader.read_from(0);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message.find("entry 1"), std::string::npos) << read.error().message;
  // A record whose template hash does not match its data is refused by the parser.
  test::TempDir other;
  auto forged = ima::binary_record(make_entry(2));
  forged[4] ^= 1;
  append_bytes(other / "binary_runtime_measurements", forged);
  IncrementalListReader forged_reader(other / "binary_runtime_measurements");
  EXPECT_FALSE(forged_reader.read_from(0));
}

TEST(IncrementalListReader, MissingFileIsAnError) {
  test::TempDir dir;
  IncrementalListReader reader(dir / "nothing");
  EXPECT_FALSE(reader.read_from(0));
}

}  // namespace
}  // namespace vigil::attest
