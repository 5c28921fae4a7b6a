// Events as JSON and as one line: the fields a reader needs, wall time from the anchor, and
// escaping so record strings cannot forge lines or fields.
#include <gtest/gtest.h>

#include <string>

#include "events/event.h"
#include "events/render.h"
#include "events/time_anchor.h"
#include "unit/events_test_records.h"

namespace {

using vigil::events::decode_record;

TEST(EventsRender, ExecAsJson) {
  const auto bytes = vigil::test::record_bytes(vigil::test::make_exec(4242, "/usr/bin/ls", {"ls", "-l"}));
  auto event = decode_record(bytes);
  ASSERT_TRUE(event);
  // Anchor: boot 5 s == 2023-11-14T22:13:20Z; the record is 42 ns after boot 5 s.
  const vigil::events::TimeAnchor anchor{5'000'000'000ull, 1'700'000'000'000'000'000ll};
  const auto json = vigil::events::event_to_json(*event, &anchor);
  EXPECT_EQ(json["event"], "procexec");
  EXPECT_EQ(json["pid"], 4242);
  EXPECT_EQ(json["ppid"], 1);
  EXPECT_EQ(json["comm"], "ls");
  EXPECT_EQ(json["filename"], "/usr/bin/ls");
  EXPECT_EQ(json["args"], nlohmann::json::array({"ls", "-l"}));
  EXPECT_EQ(json["argc"], 2);
  EXPECT_EQ(json["time"], "2023-11-14T22:13:20.000000042Z");
  EXPECT_EQ(json["ts_ns"], 5'000'000'042ull);
  EXPECT_FALSE(json.contains("syscall_nr"));
  EXPECT_FALSE(vigil::events::event_to_json(*event).contains("time"));
}

TEST(EventsRender, SyscallsAsJson) {
  auto connect = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_connect_v4(9, 3, 10, 0, 0, 1, 8080)));
  ASSERT_TRUE(connect);
  auto json = vigil::events::event_to_json(*connect);
  EXPECT_EQ(json["event"], "connect");
  EXPECT_EQ(json["syscall_nr"], VIGIL_NR_connect);
  EXPECT_EQ(json["ret"], 0);
  EXPECT_EQ(json["remote"]["addr"], "10.0.0.1");
  EXPECT_EQ(json["remote"]["port"], 8080);

  auto open = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_openat(9, "/etc/passwd", -13)));
  ASSERT_TRUE(open);
  json = vigil::events::event_to_json(*open);
  EXPECT_EQ(json["event"], "openat");
  EXPECT_EQ(json["ret"], -13);
  EXPECT_EQ(json["path"], "/etc/passwd");
  EXPECT_EQ(json["fd"], -1);
}

TEST(EventsRender, Lines) {
  auto exec = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_exec(77, "/bin/echo", {"echo", "a b", ""})));
  ASSERT_TRUE(exec);
  const vigil::events::TimeAnchor anchor{5'000'000'000ull, 1'700'000'000'000'000'000ll};
  EXPECT_EQ(vigil::events::event_line(*exec, &anchor),
            "22:13:20.000000042 procexec pid=77 tid=78 ppid=1 uid=1000 gid=1001 comm=ls cgroup=4242 "
            "filename=/bin/echo args=[echo \"a b\" \"\"]");
  EXPECT_EQ(vigil::events::event_line(*exec).substr(0, 23), "[5.000000042] procexec ");

  auto connect = vigil::test::DecodedRecord(vigil::test::record_bytes(vigil::test::make_connect_v4(9, 3, 10, 0, 0, 1, 8080)));
  ASSERT_TRUE(connect);
  const std::string line = vigil::events::event_line(*connect);
  EXPECT_NE(line.find(" connect pid=9 "), std::string::npos) << line;
  EXPECT_NE(line.find(" ret=0 fd=3 "), std::string::npos) << line;
  EXPECT_NE(line.find(" remote=10.0.0.1:8080"), std::string::npos) << line;
}

TEST(EventsRender, RecordStringsCannotForgeLines) {
  auto exec = vigil::test::DecodedRecord(
      vigil::test::record_bytes(vigil::test::make_exec(1, "/tmp/x\nFAKE procexec pid=1", {"a\"b", "\x1b[31m"})));
  ASSERT_TRUE(exec);
  const std::string line = vigil::events::event_line(*exec);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_NE(line.find("filename=\"/tmp/x\\nFAKE procexec pid=1\""), std::string::npos) << line;
  EXPECT_NE(line.find("args=[\"a\\\"b\" \\x1b[31m]"), std::string::npos) << line;
}

TEST(EventsRender, TimeAnchorArithmetic) {
  const vigil::events::TimeAnchor anchor{10'000, 1'000'000};
  EXPECT_EQ(anchor.wall_ns_at(10'500), 1'000'500);
  EXPECT_EQ(anchor.wall_ns_at(9'000), 999'000);  // before the anchor
  const auto now = vigil::events::TimeAnchor::now();
  EXPECT_GT(now.boot_ns, 0u);
  EXPECT_GT(now.wall_ns, 1'600'000'000'000'000'000ll);
}

}  // namespace
