#pragma once
// A private swtpm (TPM 2.0 emulator) for tests: its own state directory, its own TCP ports on
// 127.0.0.1, killed by its PID (and reaped) when the object goes away. If the test process
// dies without running destructors, the kernel kills swtpm too (PR_SET_PDEATHSIG).
#include <sys/types.h>

#include <expected>
#include <memory>
#include <string>

#include "support/test_support.h"

namespace vigil::test {

struct SwtpmOptions {
  // Manufacture the TPM with swtpm_setup first: RSA 2048 and ECC P-384 EKs (persistent
  // handles 0x81010001 and 0x81010016).
  bool with_ek = false;
  // Also EK certificates (implies with_ek), issued by a throwaway local CA kept in the temp
  // dir (nothing under /var/lib/swtpm-localca is touched). See ek_cert_dir() and ca_dir().
  bool with_ek_cert = false;
  // PCR banks to leave active, e.g. "sha1,sha256" (runs swtpm_setup). Empty: swtpm's default,
  // which for a fresh state is all four of sha1, sha256, sha384, sha512.
  std::string pcr_banks;
  int start_timeout_ms = 5000;
};

class SwtpmProcess {
 public:
  // Sets up and starts swtpm; the error says which step failed and includes its output.
  static std::expected<std::unique_ptr<SwtpmProcess>, std::string> start(const SwtpmOptions& options = {});
  // True when swtpm (and swtpm_setup when needed) are installed.
  static bool available(const SwtpmOptions& options = {});

  ~SwtpmProcess();
  SwtpmProcess(const SwtpmProcess&) = delete;
  SwtpmProcess& operator=(const SwtpmProcess&) = delete;

  // "swtpm:host=127.0.0.1,port=P" for open_pcr_backend and tpm2-tools' -T.
  std::string tcti_spec() const;
  int port() const { return port_; }          // TPM commands
  int ctrl_port() const { return port_ + 1; }  // swtpm control channel
  pid_t pid() const { return pid_; }
  const std::string& state_dir() const { return state_dir_; }
  // with_ek_cert: ek-rsa2048.crt and ek-secp384r1.crt (DER) are written here.
  std::string ek_cert_dir() const { return dir_ / "ek-certs"; }
  // with_ek_cert: the local CA (issuercert.pem, swtpm-localca-rootca-cert.pem).
  std::string ca_dir() const { return dir_ / "ca"; }
  // swtpm's own log (its stdout, stderr and --log output).
  std::string log() const;
  // Kills swtpm now (SIGKILL, waitpid). Safe to call twice; the destructor calls it.
  void stop();
  // Kills swtpm and starts it again on the same ports and state (volatile state such as PCRs
  // is lost, as at a reboot). Empty on success, else what went wrong.
  std::string restart();

 private:
  SwtpmProcess() = default;
  // Starts swtpm on port/port+1 and waits until it answers; empty on success.
  std::string launch(int port, bool* exited_at_start);

  TempDir dir_;
  std::string state_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string swtpm_path_;
  int start_timeout_ms_ = 5000;
};

}  // namespace vigil::test
