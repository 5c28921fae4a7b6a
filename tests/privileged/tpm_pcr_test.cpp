// PCRs of a real TPM 2.0 stack: vigil's ESYS backend against a private swtpm, checked against
// the software replay of the same digests and against tpm2-tools.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "support/swtpm.h"
#include "support/test_support.h"
#include "tpm/tpm.h"

using namespace vigil;
using namespace vigil::test;
using crypto::Digest;
using crypto::HashAlgo;

namespace {

using Clock = std::chrono::steady_clock;

Digest hash_of(HashAlgo algo, const std::string& text) {
  crypto::Hasher hasher;
  auto digest = hasher.of_bytes(algo, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  EXPECT_TRUE(digest);
  return digest.value_or(Digest{});
}

// One digest of `text` per bank, as the agent would extend a measurement.
std::vector<Digest> digests_for(const std::vector<HashAlgo>& banks, const std::string& text) {
  std::vector<Digest> digests;
  for (auto algo : banks) digests.push_back(hash_of(algo, text));
  return digests;
}

std::string banks_text(const std::vector<HashAlgo>& banks) {
  std::string text;
  for (auto algo : banks) text += (text.empty() ? "" : ",") + std::string(crypto::hash_name(algo));
  return text;
}

// `tpm2_pcrread BANK:PCR` prints "    PCR: 0xHEX"; returns HEX in lower case, or "" if absent.
std::string tpm2_tools_pcr(const SwtpmProcess& swtpm, const std::string& bank, int pcr) {
  auto result = run({"tpm2_pcrread", bank + ":" + std::to_string(pcr), "-T", swtpm.tcti_spec()}, 30);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  const std::string marker = std::to_string(pcr) + ": 0x";
  const size_t at = result.out.find(marker);
  if (at == std::string::npos) return {};
  std::string hex;
  for (size_t i = at + marker.size(); i < result.out.size() && std::isxdigit(static_cast<unsigned char>(result.out[i])); ++i) {
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(result.out[i])));
  }
  return hex;
}

// A loopback TCP port nothing listens on (bound, then released).
int unused_port() {
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(sock);
  return ntohs(address.sin_port);
}

// A listener on 127.0.0.1 that holds connections open and never answers (a wrong service, or
// a hung TPM). Connections complete from the backlog without accept().
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 && ::listen(fd_, 8) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class TpmPcr : public testing::Test {
 protected:
  void SetUp() override {
    VIGIL_REQUIRE(SwtpmProcess::available(), "needs swtpm (Debian: swtpm, swtpm-tools)");
    auto started = SwtpmProcess::start();
    ASSERT_TRUE(started) << started.error();
    swtpm_ = std::move(*started);
    auto backend = tpm::open_pcr_backend(swtpm_->tcti_spec());
    ASSERT_TRUE(backend) << backend.error().message << "\nswtpm log:\n" << swtpm_->log();
    backend_ = std::move(*backend);
  }

  std::unique_ptr<SwtpmProcess> swtpm_;
  std::unique_ptr<tpm::PcrBackend> backend_;  // declared after swtpm_: closed before swtpm is killed
};

}  // namespace

TEST_F(TpmPcr, ActiveBanksAndZeroPcr) {
  const auto banks = backend_->banks();
  std::cout << "swtpm active PCR banks: " << banks_text(banks) << "\n";
  RecordProperty("swtpm_banks", banks_text(banks));
  EXPECT_NE(std::find(banks.begin(), banks.end(), HashAlgo::sha1), banks.end());
  EXPECT_NE(std::find(banks.begin(), banks.end(), HashAlgo::sha256), banks.end());
  EXPECT_EQ(backend_->describe(), "TPM 2.0 via " + swtpm_->tcti_spec());
  for (auto algo : banks) {
    auto value = backend_->read(10, algo);
    ASSERT_TRUE(value) << value.error().message;
    EXPECT_EQ(value->size, crypto::hash_size(algo));
    EXPECT_EQ(value->hex(), std::string(2 * crypto::hash_size(algo), '0')) << crypto::hash_name(algo);
  }
}

TEST_F(TpmPcr, ExtendsMatchSoftwareReplayAndTpm2Tools) {
  const auto banks = backend_->banks();
  auto replay = tpm::make_software_pcrs(banks);
  ASSERT_EQ(replay->banks(), banks);  // the software bank can hash every bank the TPM has

  // Known answer: SHA-256("abc") into a zero PCR.
  const auto abc = digests_for(banks, "abc");
  ASSERT_TRUE(backend_->extend(11, abc));
  auto pcr11 = backend_->read(11, HashAlgo::sha256);
  ASSERT_TRUE(pcr11) << pcr11.error().message;
  EXPECT_EQ(pcr11->hex(), "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d");

  for (int i = 0; i < 20; ++i) {
    const auto digests = digests_for(banks, "measurement " + std::to_string(i));
    auto extended = backend_->extend(10, digests);
    ASSERT_TRUE(extended) << extended.error().message;
    ASSERT_TRUE(replay->extend(10, digests));
  }
  for (auto algo : banks) {
    auto tpm_value = backend_->read(10, algo);
    auto soft_value = replay->read(10, algo);
    ASSERT_TRUE(tpm_value) << tpm_value.error().message;
    ASSERT_TRUE(soft_value);
    EXPECT_EQ(*tpm_value, *soft_value) << crypto::hash_name(algo);
  }

  VIGIL_REQUIRE(have_program("tpm2_pcrread"), "needs tpm2-tools");
  // tpm2-tools talks to the same swtpm while vigil's context is still open.
  EXPECT_EQ(tpm2_tools_pcr(*swtpm_, "sha256", 10), replay->read(10, HashAlgo::sha256)->hex());
  EXPECT_EQ(tpm2_tools_pcr(*swtpm_, "sha1", 10), replay->read(10, HashAlgo::sha1)->hex());
  EXPECT_EQ(tpm2_tools_pcr(*swtpm_, "sha256", 11), pcr11->hex());
}

TEST_F(TpmPcr, RefusesBadInputWithoutTouchingThePcr) {
  const auto banks = backend_->banks();
  const auto digests = digests_for(banks, "x");
  auto bad_index = backend_->extend(24, digests);
  ASSERT_FALSE(bad_index);
  EXPECT_NE(bad_index.error().message.find(swtpm_->tcti_spec()), std::string::npos) << bad_index.error().message;
  EXPECT_FALSE(backend_->read(24, HashAlgo::sha256));

  auto missing = backend_->extend(9, std::span(digests).subspan(1));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos) << missing.error().message;

  auto wrong_size = digests;
  wrong_size[0].size = 7;
  EXPECT_FALSE(backend_->extend(9, wrong_size));
  EXPECT_FALSE(backend_->read(9, HashAlgo::sm3));  // swtpm has no SM3 bank

  auto value = backend_->read(9, HashAlgo::sha256);
  ASSERT_TRUE(value);
  EXPECT_EQ(value->hex(), std::string(64, '0'));
}

TEST_F(TpmPcr, ConcurrentExtendsAllLand) {
  const auto banks = backend_->banks();
  constexpr int kThreads = 4;
  constexpr int kEach = 25;

  // 1. Truly concurrent, through the backend's own mutex. Every thread extends the same
  //    digests, so the final value is the 100-fold extend whatever the interleaving; a lost
  //    or failed extend changes it.
  const auto same = digests_for(banks, "same event");
  {
    std::atomic<int> failures = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kEach; ++i) {
          if (!backend_->extend(12, same)) ++failures;
          if (!backend_->read(12, banks[0])) ++failures;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    auto replay = tpm::make_software_pcrs(banks);
    for (int i = 0; i < kThreads * kEach; ++i) ASSERT_TRUE(replay->extend(12, same));
    for (auto algo : banks) EXPECT_EQ(backend_->read(12, algo).value_or(Digest{}), replay->read(12, algo).value_or(Digest{}));
  }

  // 2. Distinct digests per thread and event; the test records the order it extended in.
  {
    std::mutex order_mutex;
    std::vector<std::string> order;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          const std::string event = "thread " + std::to_string(t) + " event " + std::to_string(i);
          const auto digests = digests_for(banks, event);
          std::lock_guard lock(order_mutex);
          if (backend_->extend(13, digests)) order.push_back(event);
        }
      });
    }
    for (auto& thread : threads) thread.join();
    ASSERT_EQ(order.size(), static_cast<size_t>(kThreads * kEach));
    auto replay = tpm::make_software_pcrs(banks);
    for (const auto& event : order) ASSERT_TRUE(replay->extend(13, digests_for(banks, event)));
    for (auto algo : banks) EXPECT_EQ(backend_->read(13, algo).value_or(Digest{}), replay->read(13, algo).value_or(Digest{}));
  }
}

TEST_F(TpmPcr, DeadSwtpmGivesErrorsThenReconnects) {
  const pid_t pid = swtpm_->pid();
  swtpm_->stop();
  EXPECT_EQ(::kill(pid, 0), -1);  // killed and reaped
  const auto started = Clock::now();
  auto extended = backend_->extend(10, digests_for(backend_->banks(), "after death"));
  EXPECT_FALSE(extended);
  auto value = backend_->read(10, HashAlgo::sha256);
  ASSERT_FALSE(value);
  EXPECT_NE(value.error().message.find(swtpm_->tcti_spec()), std::string::npos) << value.error().message;
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));

  // swtpm comes back (same port and state, PCRs reset as at a reboot): the same backend
  // reconnects on its next call.
  const std::string restarted = swtpm_->restart();
  ASSERT_EQ(restarted, "");
  const auto digests = digests_for(backend_->banks(), "after restart");
  auto again = backend_->extend(10, digests);
  ASSERT_TRUE(again) << again.error().message;
  auto replay = tpm::make_software_pcrs(backend_->banks());
  ASSERT_TRUE(replay->extend(10, digests));
  EXPECT_EQ(backend_->read(10, HashAlgo::sha256).value_or(Digest{}), replay->read(10, HashAlgo::sha256).value_or(Digest{}));
}

TEST(TpmPcrSpec, NothingListeningFailsFast) {
  const std::string spec = "swtpm:host=127.0.0.1,port=" + std::to_string(unused_port());
  const auto started = Clock::now();
  auto backend = tpm::open_pcr_backend(spec);
  ASSERT_FALSE(backend);
  EXPECT_NE(backend.error().message.find(spec), std::string::npos) << backend.error().message;
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(3));
}

TEST(TpmPcrSpec, SilentPeerTimesOut) {
  SilentListener listener;
  ASSERT_NE(listener.port(), 0);
  const std::string spec = "swtpm:host=127.0.0.1,port=" + std::to_string(listener.port());
  const auto started = Clock::now();
  auto backend = tpm::open_pcr_backend(spec);
  ASSERT_FALSE(backend);
  EXPECT_NE(backend.error().message.find("no TPM response"), std::string::npos) << backend.error().message;
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(6));
}

TEST(TpmPcrSpec, MissingDeviceNamesTheSpec) {
  auto backend = tpm::open_pcr_backend("device:/nonexistent/tpmrm9");
  ASSERT_FALSE(backend);
  EXPECT_NE(backend.error().message.find("device:/nonexistent/tpmrm9"), std::string::npos) << backend.error().message;
}

TEST(TpmSwtpm, ManufacturedWithEkCertificatesAndChosenBanks) {
  SwtpmOptions options;
  options.with_ek_cert = true;
  options.pcr_banks = "sha1,sha256";
  VIGIL_REQUIRE(SwtpmProcess::available(options), "needs swtpm, swtpm_setup and swtpm_localca (swtpm-tools)");
  auto started = SwtpmProcess::start(options);
  ASSERT_TRUE(started) << started.error();
  auto& swtpm = **started;

  auto backend = tpm::open_pcr_backend(swtpm.tcti_spec());
  ASSERT_TRUE(backend) << backend.error().message;
  EXPECT_EQ((*backend)->banks(), (std::vector<HashAlgo>{HashAlgo::sha1, HashAlgo::sha256}));

  for (const char* name : {"ek-rsa2048.crt", "ek-secp384r1.crt"}) {
    auto cert = crypto::Certificate::load(swtpm.ek_cert_dir() + "/" + name);
    ASSERT_TRUE(cert) << name << ": " << cert.error().message;
    auto ca = crypto::Certificate::load(swtpm.ca_dir() + "/issuercert.pem");
    ASSERT_TRUE(ca) << ca.error().message;
    auto ca_key = ca->public_key();
    ASSERT_TRUE(ca_key);
    EXPECT_TRUE(cert->signed_by(*ca_key)) << name;
  }

  VIGIL_REQUIRE(have_program("tpm2_readpublic"), "needs tpm2-tools");
  auto ek = run({"tpm2_readpublic", "-c", "0x81010001", "-T", swtpm.tcti_spec()}, 30);
  EXPECT_EQ(ek.exit_code, 0) << ek.err;
  EXPECT_NE(ek.out.find("rsa"), std::string::npos) << ek.out;
}

TEST(TpmSwtpm, ManufacturedWithEkOnly) {
  SwtpmOptions options;
  options.with_ek = true;
  VIGIL_REQUIRE(SwtpmProcess::available(options), "needs swtpm and swtpm_setup (swtpm-tools)");
  VIGIL_REQUIRE(have_program("tpm2_readpublic"), "needs tpm2-tools");
  auto started = SwtpmProcess::start(options);
  ASSERT_TRUE(started) << started.error();
  for (const char* handle : {"0x81010001", "0x81010016"}) {
    auto ek = run({"tpm2_readpublic", "-c", handle, "-T", (*started)->tcti_spec()}, 30);
    EXPECT_EQ(ek.exit_code, 0) << handle << ": " << ek.err;
  }
  // "--pcr-banks -" kept all of swtpm's banks.
  auto backend = tpm::open_pcr_backend((*started)->tcti_spec());
  ASSERT_TRUE(backend) << backend.error().message;
  EXPECT_EQ((*backend)->banks().size(), 4u);
}
