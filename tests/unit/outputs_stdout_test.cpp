#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "outputs/stdout_sink.h"
#include "support/test_support.h"
#include "unit/outputs_test_alerts.h"

using namespace vigil;
using namespace vigil::outputs;

TEST(OutputsStdout, WritesJsonOrTextLines) {
  test::TempDir dir;
  const std::string path = dir / "out";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  StdoutSink json(LineFormat::json, fd);
  StdoutSink text(LineFormat::text, fd);
  ASSERT_TRUE(json.deliver(test::sample_alert()));
  ASSERT_TRUE(text.deliver(test::sample_alert("Other")));
  ::close(fd);
  const std::string written = test::read_text(path);
  const size_t newline = written.find('\n');
  ASSERT_NE(newline, std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(written.substr(0, newline))["rule"], "Write below etc");
  EXPECT_EQ(written.substr(newline + 1), alert_text_line(test::sample_alert("Other")));
}

TEST(OutputsStdout, NamesItself) {
  EXPECT_EQ(StdoutSink(LineFormat::json).name(), "stdout");
  EXPECT_EQ(StdoutSink(LineFormat::json, 9).name(), "fd:9");
}
