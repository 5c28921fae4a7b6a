#include <gtest/gtest.h>

#include "common/path_text.h"

TEST(PrintablePath, EscapesWhatCouldForgeOutput) {
  EXPECT_EQ(vigil::printable_path("plain/name with space"), "plain/name with space");
  EXPECT_EQ(vigil::printable_path("a\nb"), "a\\nb");
  EXPECT_EQ(vigil::printable_path("tab\there"), "tab\\there");
  EXPECT_EQ(vigil::printable_path("back\\slash"), "back\\\\slash");
  EXPECT_EQ(vigil::printable_path(std::string("nul\x01", 4)), "nul\\x01");
  EXPECT_EQ(vigil::printable_path("caf\xc3\xa9"), "caf\xc3\xa9");   // valid UTF-8 stays
  EXPECT_EQ(vigil::printable_path("bad\xff"), "bad\\xff");          // invalid byte escaped
  EXPECT_EQ(vigil::printable_path("cut\xe4\xb8"), "cut\\xe4\\xb8");  // truncated sequence
}
