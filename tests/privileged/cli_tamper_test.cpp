// Every way a signed file or its security.ima can be damaged yields its precise status,
// a non-zero exit, and never a crash.
#include <gtest/gtest.h>

#include <sys/xattr.h>

#include <nlohmann/json.hpp>

#include "privileged/cli_fixture.h"

using namespace vigil::test;

namespace {

class Tamper : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE_PRIVILEGED_TOOLS();
    ASSERT_EQ(run_vigil({"keygen", "--algo", GetParam(), "-o", keys_ / "k"}).exit_code, 0);
    file_ = dir_ / "file";
    write_text(file_, std::string(5000, 'a'));
    auto signed_file = run_vigil({"sign", "--key", keys_ / "k.key", "--cert", keys_ / "k.crt", file_});
    ASSERT_EQ(signed_file.exit_code, 0) << signed_file.err;
    value_ = read_xattr(file_, "security.ima");
    ASSERT_GT(value_.size(), 9u);
  }

  // Verifies the file and returns the status from the JSON report.
  std::pair<std::string, std::string> status() {
    auto result = run_vigil({"verify", "--json", "--keyring", keys_.path(), file_});
    EXPECT_GE(result.exit_code, 0) << "crashed: " << result.err;
    nlohmann::json report = nlohmann::json::parse(result.out, nullptr, false);
    if (report.is_discarded()) return {"unparseable: " + result.out, ""};
    const auto& entry = report["files"][0];
    const std::string status = entry["status"];
    if (status == "ok") {
      EXPECT_EQ(result.exit_code, 0);
    } else {
      EXPECT_EQ(result.exit_code, 1) << status;
    }
    return {status, entry.value("reason", "")};
  }

  void set_value(const std::vector<uint8_t>& value) { write_xattr(file_, "security.ima", value); }

  TempDir dir_, keys_;
  std::string file_;
  std::vector<uint8_t> value_;
};

}  // namespace

TEST_P(Tamper, IntactIsOk) { EXPECT_EQ(status().first, "ok"); }

TEST_P(Tamper, OneContentByteChangedIsHashMismatch) {
  std::string content(5000, 'a');
  content[2500] = 'b';
  write_text(file_, content);
  auto [status_name, reason] = status();
  EXPECT_EQ(status_name, "hash-mismatch");
  EXPECT_NE(reason.find("does not match the current content"), std::string::npos);
}

TEST_P(Tamper, TruncatedXattrIsMalformed) {
  for (size_t keep : {size_t{1}, size_t{5}, size_t{9}, value_.size() - 1}) {
    set_value({value_.begin(), value_.begin() + static_cast<long>(keep)});
    EXPECT_EQ(status().first, "malformed") << "kept " << keep << " bytes";
  }
}

TEST_P(Tamper, GarbledSignatureIsBadSignature) {
  auto garbled = value_;
  for (size_t i = 9; i < garbled.size(); ++i) garbled[i] = static_cast<uint8_t>(garbled[i] * 13 + 5);
  set_value(garbled);
  EXPECT_EQ(status().first, "bad-signature");
}

TEST_P(Tamper, UnknownHashAlgorithmIsMalformed) {
  auto changed = value_;
  changed[2] = 200;
  set_value(changed);
  auto [status_name, reason] = status();
  EXPECT_EQ(status_name, "malformed");
  EXPECT_EQ(reason, "unknown hash algorithm 200");
}

TEST_P(Tamper, KeyIdNotInKeyringIsUnknownKey) {
  auto changed = value_;
  changed[5] ^= 0x5a;
  set_value(changed);
  auto [status_name, reason] = status();
  EXPECT_EQ(status_name, "unknown-key");
  EXPECT_NE(reason.find("not in the keyring"), std::string::npos);
}

TEST_P(Tamper, RemovedXattrIsNoSignature) {
  ASSERT_EQ(::removexattr(file_.c_str(), "security.ima"), 0);
  EXPECT_EQ(status().first, "no-signature");
}

TEST_P(Tamper, RandomValuesNeverCrash) {
  uint32_t seed = 12345;
  for (int round = 0; round < 200; ++round) {
    auto value = value_;
    const int flips = 1 + round % 4;
    for (int f = 0; f < flips; ++f) {
      seed = seed * 1103515245 + 12345;
      value[seed % value.size()] = static_cast<uint8_t>(seed >> 16);
    }
    set_value(value);
    auto result = run_vigil({"verify", "--keyring", keys_.path(), file_});
    ASSERT_GE(result.exit_code, 0) << "crashed on round " << round << ": " << result.err;
    ASSERT_LE(result.exit_code, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(KeyKinds, Tamper, testing::Values("sm2", "ecdsa-p256", "rsa2048"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });
