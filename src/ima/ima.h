#pragma once
// IMA file signatures as the kernel and evmctl (ima-evm-utils) write them: the security.ima
// xattr formats, key ids, keyrings, and signing/verifying files. Used by the CLI and the agent.
#include <fcntl.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"

namespace vigil::ima {

using crypto::HashAlgo;

inline constexpr const char* kImaXattrName = "security.ima";
inline constexpr size_t kSignatureHeaderSize = 9;
inline constexpr size_t kMaxXattrSize = 65536;

enum class XattrType : uint8_t {
  digest = 0x01,               // legacy: SHA-1 (or MD5) digest, no algorithm byte
  evm_hmac = 0x02,
  digsig = 0x03,               // signature (v2 header)
  digest_ng = 0x04,            // [0x04][hash_algo][digest]
  evm_portable_digsig = 0x05,
  verity_digsig = 0x06,
};

// Views point into the bytes given to parse_ima_xattr; they live as long as those bytes.
struct SignatureV2 {
  HashAlgo algo;
  uint32_t keyid;
  std::span<const uint8_t> signature;
};
struct DigestValue {
  HashAlgo algo;
  std::span<const uint8_t> digest;
};
using ImaXattr = std::variant<SignatureV2, DigestValue>;

// Parses untrusted xattr bytes. The error message says precisely what is malformed.
Result<ImaXattr> parse_ima_xattr(std::span<const uint8_t> bytes);

// Signature v2 (type 0x03) exactly as evmctl ima_sign writes it.
Result<std::vector<uint8_t>> encode_signature_v2(HashAlgo algo, uint32_t keyid, std::span<const uint8_t> signature);
// The digest form exactly as evmctl ima_hash writes it: 0x01 for SHA-1, 0x04 for the rest.
std::vector<uint8_t> encode_digest(const crypto::Digest& digest);

// Key ids. The kernel finds keys by the last 4 bytes of the certificate's SubjectKeyIdentifier;
// evmctl, without a certificate, uses bytes 16..19 of SHA-1 over the public key bits.
Result<uint32_t> keyid_from_public_key(const crypto::Key& key);
std::optional<uint32_t> keyid_from_subject_key_id(const crypto::Certificate& cert);
Result<uint32_t> signing_keyid(const crypto::Key& key, const crypto::Certificate* cert);
std::string keyid_hex(uint32_t keyid);  // "db3f648f"

// Public keys that signatures are checked against, found by key id.
class Keyring {
 public:
  struct Entry {
    uint32_t keyid;
    crypto::Key key;
    std::string source;  // file it came from
  };
  void add_certificate(const crypto::Certificate& cert, const std::string& source);
  void add_public_key(const crypto::Key& key, const std::string& source);
  // Loads certificates (PEM/DER) or public keys from a file.
  Result<void> load_file(const std::string& path);
  // Loads every *.der, *.crt, *.cer, *.pem, *.x509 in dir. Unreadable entries are returned
  // as warnings; an empty result is an error.
  Result<std::vector<std::string>> load_directory(const std::string& dir);
  // All keys with this id (32-bit ids can collide; the kernel tries them too).
  std::vector<const Entry*> find(uint32_t keyid) const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  void add(uint32_t keyid, const crypto::Key& key, const std::string& source);
  std::vector<Entry> entries_;
};

// Where the IMA value of a file lives.
enum class Storage { xattr, sigfile };
enum class ReadFrom { xattr_then_sigfile, xattr_only, sigfile_only };

std::string sigfile_path(const std::string& path);  // PATH.sig, as evmctl --sigfile

// Where a file's PATH.sig sidecar is: `name` within the directory `dir_fd`. For a path given by
// the user, AT_FDCWD and PATH.sig; for a file found by walking a tree, its directory opened
// beneath the walk's root and NAME.sig, so that a sidecar is never read or written outside the
// tree, whatever is swapped meanwhile. The descriptor stays the caller's.
struct SidecarPlace {
  int dir_fd = AT_FDCWD;
  std::string name;
};
SidecarPlace sidecar_beside(const std::string& path);  // {AT_FDCWD, PATH.sig}

// A sidecar is written to a new file, then renamed over NAME.sig: an existing NAME.sig that is
// a hard link or a symlink to something else is replaced, never written through.
// `sidecar` null: beside `path`.
Result<void> store_ima_value(int fd, const std::string& path, std::span<const uint8_t> value, Storage storage,
                             const SidecarPlace* sidecar = nullptr);

struct StoredValue {
  std::vector<uint8_t> bytes;
  Storage from;
};
// nullopt when the file has no value; `why_none` then says where vigil looked.
// `sidecar` null: beside `path`. A sidecar that is a symlink is not read.
Result<std::optional<StoredValue>> load_ima_value(int fd, const std::string& path, ReadFrom from,
                                                  std::string* why_none = nullptr,
                                                  const SidecarPlace* sidecar = nullptr);

// Opens a file for hashing without blocking on FIFOs and without following a final symlink
// swap; fails unless it is a regular file.
Result<int> open_regular_file(const std::string& path);

struct SignOptions {
  HashAlgo hash = HashAlgo::sha256;
  bool digest_only = false;   // evmctl ima_hash instead of ima_sign
  Storage storage = Storage::xattr;
  std::optional<uint32_t> keyid_override;  // evmctl --keyid
};

class FileSigner {
 public:
  // key may be empty only with digest_only. The certificate, if any, must match the key.
  static Result<FileSigner> create(std::optional<crypto::Key> key, std::optional<crypto::Certificate> cert,
                                   const SignOptions& options);
  // Thread-safe. Returns the bytes written.
  Result<std::vector<uint8_t>> sign_file(const std::string& path) const;
  // The same for a file the caller opened (read-only is enough: the xattr is set on the
  // descriptor); `path` is for messages, the sidecar goes to `sidecar`.
  Result<std::vector<uint8_t>> sign_open_file(int fd, const std::string& path, const SidecarPlace& sidecar) const;
  // The IMA value for a file's content, without writing it.
  Result<std::vector<uint8_t>> value_for_fd(int fd) const;
  uint32_t keyid() const { return keyid_; }
  const SignOptions& options() const { return options_; }

 private:
  FileSigner(std::optional<crypto::Key> key, uint32_t keyid, SignOptions options)
      : key_(std::move(key)), keyid_(keyid), options_(options) {}
  std::optional<crypto::Key> key_;
  uint32_t keyid_;
  SignOptions options_;
};

enum class VerifyStatus { ok, no_signature, bad_signature, unknown_key, hash_mismatch, malformed, error };
std::string_view status_name(VerifyStatus status);  // "ok", "no-signature", ...

struct VerifyResult {
  VerifyStatus status = VerifyStatus::error;
  std::string reason;                 // empty for ok
  std::optional<uint32_t> keyid;      // for signatures
  std::optional<HashAlgo> algo;
  std::string form;                   // "signature" or "digest", when a value was found
  std::optional<Storage> from;
  std::string signer;                 // keyring source that verified it
};

struct VerifyOptions {
  ReadFrom read_from = ReadFrom::xattr_then_sigfile;
};

// Thread-safe; never throws; every outcome is a status.
VerifyResult verify_file(const std::string& path, const Keyring& keyring, const VerifyOptions& options);
// The same for a file the caller opened; `path` is for messages, the sidecar is read from `sidecar`.
VerifyResult verify_open_file(int fd, const std::string& path, const SidecarPlace& sidecar, const Keyring& keyring,
                              const VerifyOptions& options);
// Checks an IMA value against an open file's content.
VerifyResult verify_value(int fd, std::span<const uint8_t> value, const Keyring& keyring);
// Checks an IMA value against a digest of the content computed by the caller (the agent hashes
// a file once for appraisal and measurement). `content` must be in the value's algorithm.
VerifyResult verify_value_digest(std::span<const uint8_t> value, const crypto::Digest& content,
                                 const Keyring& keyring);

}  // namespace vigil::ima
