// A manifest is signed as IMA signs a file: the key signs the digest of the manifest's text
// (RSA PKCS#1 v1.5, ECDSA and SM2 DER), and the key id is found as evmctl and the kernel find
// it, so the same keys and keyrings serve files and images.
#include "common/hex_text.h"
#include "image/image.h"

namespace vigil::image {

Result<std::string> sign_manifest(const Manifest& manifest, const crypto::Key& key, const crypto::Certificate* cert) {
  if ((key.type() == crypto::KeyType::sm2) != (manifest.hash == crypto::HashAlgo::sm3)) {
    return fail("an SM2 key signs SM3 manifests only, and SM3 manifests need an SM2 key (" + key.describe() + ", " +
                std::string(crypto::hash_name(manifest.hash)) + ")");
  }
  if (cert) {
    auto cert_key = cert->public_key();
    if (!cert_key || !cert_key->same_public_key(key)) return fail("the certificate is not the key's");
  }
  auto keyid = ima::signing_keyid(key, cert);
  if (!keyid) return std::unexpected(keyid.error());
  std::string text = encode_body(manifest);
  crypto::Hasher hasher;
  auto digest = hasher.of_bytes(manifest.hash, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  if (!digest) return std::unexpected(digest.error());
  auto signature = crypto::sign_digest(key, *digest);
  if (!signature) return std::unexpected(signature.error());
  text += "signature ";
  text += ima::keyid_hex(*keyid);
  text += ' ';
  text += hex_text(*signature);
  text += '\n';
  return text;
}

Trust check_signature(const SignedManifest& manifest, const ima::Keyring& keyring) {
  Trust trust;
  const auto candidates = keyring.find(manifest.keyid);
  if (candidates.empty()) {
    trust.reason = "signed by key " + ima::keyid_hex(manifest.keyid) + ", which is not in the keyring";
    return trust;
  }
  for (const auto* entry : candidates) {
    if (crypto::verify_digest(entry->key, manifest.body_digest, manifest.signature) == crypto::SignatureCheck::valid) {
      trust.trusted = true;
      trust.signer = entry->source;
      return trust;
    }
  }
  trust.reason = "the signature by key " + ima::keyid_hex(manifest.keyid) +
                 " does not verify (the manifest was changed after signing, or another key has that id)";
  return trust;
}

}  // namespace vigil::image
