// Quotes arrive from agents: TPMS_ATTEST and TPMT_SIGNATURE bytes, the reported PCR values and
// the nonce are all attacker-chosen. parse_quote_attest and check_quote must answer every input
// without crashing, and a quote accepted must really be signed by the fixed AK below.
//
// Input: u16 attest size (big endian), attest, u16 signature size, signature, u8 nonce size,
// nonce, then the reported PCR values as 32-byte sha256 chunks (the reported selection is the
// quoted one when the attest parses). Seeds in corpus/quote/ are quotes by this AK.
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "attest/quote.h"

namespace {

// The fuzzing AK (ECDSA P-256). Its private half only ever made the seeds.
constexpr char kAkPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4PX1H7edpkh+Z1ySFqarGwfb37Oo\n"
    "YwF1eGjJfZm2en9nymAZiqUpx9myeJdAbK8rqeclMHRHmQcG/mZ870iXwA==\n"
    "-----END PUBLIC KEY-----\n";

vigil::tpm::TpmPublic make_ak() {
  BIO* bio = BIO_new_mem_buf(kAkPem, -1);
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) std::abort();
  vigil::crypto::Key key(pkey);
  auto bits = key.public_key_bits();
  vigil::crypto::Hasher hasher;
  auto digest = hasher.of_bytes(vigil::crypto::HashAlgo::sha256, *bits);
  std::vector<uint8_t> name = {0x00, 0x0b};
  name.insert(name.end(), digest->view().begin(), digest->view().end());
  return vigil::tpm::TpmPublic{.marshalled = {},
                               .kind = vigil::tpm::TpmKeyKind::ecc,
                               .name_alg = vigil::crypto::HashAlgo::sha256,
                               .object_attributes = 0x00050072,
                               .key = key,
                               .name = name,
                               .symmetric = {},
                               .scheme = 0x0018,  // ECDSA
                               .scheme_hash = 0x000B,
                               .curve = 0x0003,   // P-256
                               .key_bits = 256};
}

struct Cursor {
  std::span<const uint8_t> bytes;
  std::span<const uint8_t> take(size_t size) {
    size = std::min(size, bytes.size());
    auto out = bytes.first(size);
    bytes = bytes.subspan(size);
    return out;
  }
  size_t u16() {
    const auto two = take(2);
    return two.size() == 2 ? (size_t{two[0]} << 8) | two[1] : 0;
  }
  size_t u8() {
    const auto one = take(1);
    return one.empty() ? 0 : one[0];
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vigil::tpm::TpmPublic ak = make_ak();
  (void)vigil::attest::parse_quote_attest({data, size});

  Cursor in{{data, size}};
  vigil::tpm::QuoteEvidence evidence;
  const auto attest = in.take(in.u16());
  evidence.attest.assign(attest.begin(), attest.end());
  const auto signature = in.take(in.u16());
  evidence.signature.assign(signature.begin(), signature.end());
  const auto nonce = in.take(in.u8());
  auto info = vigil::attest::parse_quote_attest(evidence.attest);
  if (info && !info->selections.empty()) evidence.selection = info->selections.front();
  while (in.bytes.size() >= 32) {
    vigil::crypto::Digest value;
    value.algo = vigil::crypto::HashAlgo::sha256;
    value.size = 32;
    const auto chunk = in.take(32);
    std::copy(chunk.begin(), chunk.end(), value.bytes.begin());
    evidence.pcr_values.push_back(value);
  }
  const auto check = vigil::attest::check_quote(ak, nonce, evidence);
  if (check.problem == vigil::attest::QuoteProblem::none) {
    // Accepted: it parsed, answers this nonce, and the reason is empty.
    if (!info || !check.reason.empty()) std::abort();
    if (!std::equal(nonce.begin(), nonce.end(), info->extra_data.begin(), info->extra_data.end())) std::abort();
  } else if (check.reason.empty()) {
    std::abort();  // every refusal says why
  }
  return 0;
}
