// Shared pieces of the runtime policy code (runtime_policy_parts.h).
#include "attest/runtime_policy_parts.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace vigil::attest::policy_parts {
namespace {

constexpr size_t kMaxRegexSize = 1024;  // std::regex compiles recursively: keep patterns sane

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

}  // namespace

std::optional<crypto::Digest> digest_from_hex(crypto::HashAlgo algo, std::string_view text) {
  const size_t size = crypto::hash_size(algo);
  if (size == 0 || size > crypto::kMaxDigestSize || text.size() != size * 2) return std::nullopt;
  crypto::Digest digest;
  digest.algo = algo;
  digest.size = static_cast<uint8_t>(size);
  for (size_t i = 0; i < size; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    digest.bytes[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return digest;
}

std::string digest_text(const crypto::Digest& digest) {
  return std::string(crypto::hash_name(digest.algo)) + ":" + digest.hex();
}

void add_unique(std::vector<crypto::Digest>& digests, const crypto::Digest& digest) {
  if (std::find(digests.begin(), digests.end(), digest) == digests.end()) digests.push_back(digest);
}

Result<void> add_pem_keys(ima::Keyring& keyring, std::string_view text, const std::string& source) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return fail("out of memory reading a key");
  size_t added = 0;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long length = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1) break;
    const std::string block = name;
    const unsigned char* cursor = data;
    bool ok = false;
    if (block == "CERTIFICATE") {
      if (X509* cert = d2i_X509(nullptr, &cursor, length)) {
        crypto::Certificate certificate(cert);
        ok = certificate.public_key().has_value();
        if (ok) keyring.add_certificate(certificate, source);
      }
    } else if (block == "PUBLIC KEY") {
      if (EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &cursor, length)) {
        keyring.add_public_key(crypto::Key(pkey), source);
        ok = true;
      }
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    ERR_clear_error();
    if (!ok) return fail(source + ": PEM block \"" + block + "\" is not a usable certificate or public key");
    ++added;
  }
  ERR_clear_error();
  if (added == 0) return fail(source + ": no PEM certificate or public key found");
  return {};
}

Result<std::string> der_public_key_to_pem(std::span<const uint8_t> der) {
  const unsigned char* cursor = der.data();
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der.size()));
  ERR_clear_error();
  if (pkey == nullptr) return fail("not a DER public key");
  crypto::Key key(pkey);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) return fail("cannot write the key as PEM");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

// The literal text every match of an (anchored) ECMAScript pattern starts with: "/tmp/" for
// "/tmp/.*", "" when the pattern has an alternation or starts with something not literal.
std::string literal_prefix(std::string_view pattern) {
  if (pattern.find('|') != std::string_view::npos) return {};
  if (pattern.starts_with('^')) pattern.remove_prefix(1);
  static constexpr std::string_view kSpecial = ".[]()*+?{}|^$\\";
  std::string prefix;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    size_t width = 1;
    if (c == '\\') {
      // An escaped punctuation character is itself; \d, \w, \b, \0 ... are classes or assertions.
      if (i + 1 >= pattern.size() || std::isalnum(static_cast<unsigned char>(pattern[i + 1]))) break;
      c = pattern[i + 1];
      width = 2;
    } else if (kSpecial.find(c) != std::string_view::npos) {
      break;
    }
    const size_t next = i + width;
    if (next < pattern.size() && std::string_view("*+?{").find(pattern[next]) != std::string_view::npos) break;
    prefix += c;
    i = next - 1;
  }
  return prefix;
}

Result<std::regex> compile_regex(const std::string& pattern) {
  if (pattern.size() > kMaxRegexSize) {
    return fail("exclude regex is " + std::to_string(pattern.size()) + " bytes, longer than " +
                std::to_string(kMaxRegexSize));
  }
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& error) {
    return fail("exclude regex \"" + pattern + "\" does not compile: " + error.what());
  }
}

Result<std::vector<std::string>> string_list(const nlohmann::json& document, std::string_view name, std::string_view what) {
  std::vector<std::string> out;
  const auto found = document.find(name);
  if (found == document.end() || found->is_null()) return out;
  if (!found->is_array()) return fail(std::string(what) + ": \"" + std::string(name) + "\" must be a list of strings");
  for (const auto& item : *found) {
    if (!item.is_string()) {
      return fail(std::string(what) + ": \"" + std::string(name) + "\" must hold strings, not " + item.type_name());
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string name_of(const std::string& source, std::string_view fallback) {
  return source.empty() ? std::string(fallback) : source;
}

}  // namespace vigil::attest::policy_parts
