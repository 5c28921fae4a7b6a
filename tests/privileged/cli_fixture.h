#pragma once
// Shared by privileged CLI tests: run vigil and evmctl on real files with security.ima.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.h"

namespace vigil::test {

inline CommandResult run_vigil(std::vector<std::string> args) {
  args.insert(args.begin(), vigil_binary());
  return run(args);
}

// Fails the test with both outputs when a command did not exit as expected.
#define EXPECT_EXIT_CODE(result, code) \
  EXPECT_EQ((result).exit_code, code) << "stdout:\n" << (result).out << "\nstderr:\n" << (result).err

inline std::string hex(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  for (uint8_t b : bytes) {
    text += kDigits[b >> 4];
    text += kDigits[b & 0xF];
  }
  return text;
}

}  // namespace vigil::test

// Privileged tests need root (security.* xattrs, mounts) and the peer tools.
#define VIGIL_REQUIRE_PRIVILEGED_TOOLS()                                                       \
  do {                                                                                        \
    VIGIL_REQUIRE_ROOT();                                                                     \
    VIGIL_REQUIRE(::vigil::test::have_program("evmctl"), "evmctl (ima-evm-utils) not installed"); \
    VIGIL_REQUIRE(::vigil::test::have_program("openssl"), "openssl not installed");          \
  } while (0)
