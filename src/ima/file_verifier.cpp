#include <functional>

#include <unistd.h>

#include "ima/ima.h"

namespace vigil::ima {
namespace {

VerifyResult verdict(VerifyStatus status, std::string reason = {}) {
  VerifyResult result;
  result.status = status;
  result.reason = std::move(reason);
  return result;
}

// The content's digest in the value's algorithm; on failure sets result's status and reason.
using ContentDigest = std::function<std::optional<crypto::Digest>(HashAlgo algo, VerifyResult& result)>;

ContentDigest digest_of_fd(int fd) {
  return [fd](HashAlgo algo, VerifyResult& result) -> std::optional<crypto::Digest> {
    if (crypto::hash_md(algo) == nullptr) {
      result.status = VerifyStatus::malformed;
      result.reason = "hash algorithm " + std::string(crypto::hash_name(algo)) + " is not supported";
      return std::nullopt;
    }
    thread_local crypto::Hasher hasher;
    auto digest = hasher.of_fd(algo, fd);
    if (!digest) {
      result.status = VerifyStatus::error;
      result.reason = digest.error().message;
      return std::nullopt;
    }
    return *digest;
  };
}

VerifyResult check_digest(const ContentDigest& content_digest, const DigestValue& value) {
  VerifyResult result;
  result.form = "digest";
  result.algo = value.algo;
  const auto digest = content_digest(value.algo, result);
  if (!digest) return result;
  const auto actual = digest->view();
  const bool same = std::equal(actual.begin(), actual.end(), value.digest.begin(), value.digest.end());
  result.status = same ? VerifyStatus::ok : VerifyStatus::hash_mismatch;
  if (!same) {
    result.reason = "content " + std::string(crypto::hash_name(value.algo)) + " " + digest->hex() +
                    " differs from the recorded digest";
  }
  return result;
}

VerifyResult check_signature(const ContentDigest& content_digest, const SignatureV2& value, const Keyring& keyring) {
  VerifyResult result;
  result.form = "signature";
  result.algo = value.algo;
  result.keyid = value.keyid;
  const auto candidates = keyring.find(value.keyid);
  if (candidates.empty()) {
    result.status = VerifyStatus::unknown_key;
    result.reason = "key id " + keyid_hex(value.keyid) + " is not in the keyring";
    return result;
  }
  const auto digest = content_digest(value.algo, result);
  if (!digest) return result;
  bool wrong_digest = false;
  for (const Keyring::Entry* entry : candidates) {
    switch (crypto::verify_digest(entry->key, *digest, value.signature)) {
      case crypto::SignatureCheck::valid:
        result.status = VerifyStatus::ok;
        result.signer = entry->source;
        return result;
      case crypto::SignatureCheck::wrong_digest: wrong_digest = true; break;
      case crypto::SignatureCheck::corrupt: break;
    }
  }
  const std::string key_text = "key " + keyid_hex(value.keyid) + " (" + candidates.front()->key.describe() + ")";
  if (wrong_digest) {
    result.status = VerifyStatus::hash_mismatch;
    result.reason = "signature by " + key_text + " does not match the current content (" +
                    std::string(crypto::hash_name(value.algo)) + " " + digest->hex() + ")";
  } else if (candidates.front()->key.type() == crypto::KeyType::sm2 && value.algo != HashAlgo::sm3) {
    result.status = VerifyStatus::bad_signature;
    result.reason = "SM2 signatures must be over SM3 digests, header says " + std::string(crypto::hash_name(value.algo));
  } else {
    result.status = VerifyStatus::bad_signature;
    result.reason = "signature bytes are not a valid signature by " + key_text;
  }
  return result;
}

}  // namespace

std::string_view status_name(VerifyStatus status) {
  switch (status) {
    case VerifyStatus::ok: return "ok";
    case VerifyStatus::no_signature: return "no-signature";
    case VerifyStatus::bad_signature: return "bad-signature";
    case VerifyStatus::unknown_key: return "unknown-key";
    case VerifyStatus::hash_mismatch: return "hash-mismatch";
    case VerifyStatus::malformed: return "malformed";
    case VerifyStatus::error: return "error";
  }
  return "error";
}

namespace {

VerifyResult verify_value_with(const ContentDigest& content_digest, std::span<const uint8_t> value,
                               const Keyring& keyring) {
  auto parsed = parse_ima_xattr(value);
  if (!parsed) return verdict(VerifyStatus::malformed, parsed.error().message);
  if (const auto* signature = std::get_if<SignatureV2>(&*parsed)) {
    return check_signature(content_digest, *signature, keyring);
  }
  return check_digest(content_digest, std::get<DigestValue>(*parsed));
}

}  // namespace

VerifyResult verify_value(int fd, std::span<const uint8_t> value, const Keyring& keyring) {
  return verify_value_with(digest_of_fd(fd), value, keyring);
}

VerifyResult verify_value_digest(std::span<const uint8_t> value, const crypto::Digest& content,
                                 const Keyring& keyring) {
  return verify_value_with(
      [&content](HashAlgo algo, VerifyResult& result) -> std::optional<crypto::Digest> {
        if (content.algo == algo) return content;
        result.status = VerifyStatus::error;
        result.reason = "content digest is " + std::string(crypto::hash_name(content.algo)) + ", the value needs " +
                        std::string(crypto::hash_name(algo));
        return std::nullopt;
      },
      value, keyring);
}

VerifyResult verify_file(const std::string& path, const Keyring& keyring, const VerifyOptions& options) {
  auto fd = open_regular_file(path);
  if (!fd) return verdict(VerifyStatus::error, fd.error().message);
  VerifyResult result = verify_open_file(*fd, path, sidecar_beside(path), keyring, options);
  ::close(*fd);
  return result;
}

VerifyResult verify_open_file(int fd, const std::string& path, const SidecarPlace& sidecar, const Keyring& keyring,
                              const VerifyOptions& options) {
  std::string why_none;
  auto stored = load_ima_value(fd, path, options.read_from, &why_none, &sidecar);
  VerifyResult result;
  if (!stored) {
    result = verdict(VerifyStatus::error, stored.error().message);
  } else if (!*stored) {
    result = verdict(VerifyStatus::no_signature, why_none);
  } else {
    result = verify_value(fd, (*stored)->bytes, keyring);
    result.from = (*stored)->from;
  }
  return result;
}

}  // namespace vigil::ima
