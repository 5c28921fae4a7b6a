#include <unistd.h>

#include "ima/ima.h"

namespace vigil::ima {

Result<FileSigner> FileSigner::create(std::optional<crypto::Key> key, std::optional<crypto::Certificate> cert,
                                      const SignOptions& options) {
  if (crypto::hash_md(options.hash) == nullptr) {
    return fail("hash algorithm " + std::string(crypto::hash_name(options.hash)) + " is not available");
  }
  if (options.digest_only) return FileSigner(std::nullopt, 0, options);
  if (!key) return fail("signing needs a private key (--key)");
  if (key->type() == crypto::KeyType::sm2 && options.hash != HashAlgo::sm3) {
    return fail("SM2 keys sign SM3 digests only (use --hash sm3)");
  }
  if (cert) {
    auto cert_key = cert->public_key();
    if (!cert_key) return std::unexpected(cert_key.error());
    if (!cert_key->same_public_key(*key)) return fail("the certificate does not belong to the private key");
  }
  Result<uint32_t> keyid = options.keyid_override ? Result<uint32_t>(*options.keyid_override)
                                                  : signing_keyid(*key, cert ? &*cert : nullptr);
  if (!keyid) return std::unexpected(keyid.error());
  return FileSigner(std::move(key), *keyid, options);
}

Result<std::vector<uint8_t>> FileSigner::value_for_fd(int fd) const {
  thread_local crypto::Hasher hasher;
  auto digest = hasher.of_fd(options_.hash, fd);
  if (!digest) return std::unexpected(digest.error());
  if (options_.digest_only) return encode_digest(*digest);
  auto signature = crypto::sign_digest(*key_, *digest);
  if (!signature) return std::unexpected(signature.error());
  return encode_signature_v2(options_.hash, keyid_, *signature);
}

Result<std::vector<uint8_t>> FileSigner::sign_file(const std::string& path) const {
  auto fd = open_regular_file(path);
  if (!fd) return std::unexpected(fd.error());
  auto value = sign_open_file(*fd, path, sidecar_beside(path));
  ::close(*fd);
  return value;
}

Result<std::vector<uint8_t>> FileSigner::sign_open_file(int fd, const std::string& path,
                                                        const SidecarPlace& sidecar) const {
  auto value = value_for_fd(fd);
  if (!value) return value;
  if (auto stored = store_ima_value(fd, path, *value, options_.storage, &sidecar); !stored) {
    return std::unexpected(stored.error());
  }
  return value;
}

}  // namespace vigil::ima
