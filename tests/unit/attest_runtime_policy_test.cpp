#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include "attest/evidence_json.h"
#include "attest/runtime_policy.h"
#include "attest_test_quotes.h"
#include "support/test_support.h"

namespace {

using namespace vigil;
using namespace vigil::test::attest;
using attest::RuntimePolicy;

std::string public_pem(const crypto::Key& key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key.get());
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(length));
  BIO_free(bio);
  return pem;
}

std::vector<uint8_t> public_der(const crypto::Key& key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key.get(), &der);
  std::vector<uint8_t> out(der, der + length);
  OPENSSL_free(der);
  return out;
}

crypto::Key make_key(crypto::KeyAlgo algo) {
  auto key = crypto::generate_key(algo);
  EXPECT_TRUE(key) << key.error().message;
  return *key;
}

std::string hex_of(std::string_view content, crypto::HashAlgo algo) { return hash_of(algo, bytes_of(content)).hex(); }

TEST(RuntimePolicyFormat, RoundTripsEveryField) {
  const auto key = make_key(crypto::KeyAlgo::sm2);
  RuntimePolicy policy;
  policy.digests["/usr/bin/ls"] = {hash_of(crypto::HashAlgo::sha256, bytes_of("ls")),
                                   hash_of(crypto::HashAlgo::sm3, bytes_of("ls"))};
  policy.digests["/usr/lib/with space"] = {hash_of(crypto::HashAlgo::sha1, bytes_of("lib"))};
  policy.exclude_globs = {"/tmp/*", "/var/log/*"};
  policy.exclude_regexes = {"/proc/.*"};
  policy.key_pems = {public_pem(key)};
  policy.boot_pcrs[0] = {hash_of(crypto::HashAlgo::sha256, bytes_of("firmware"))};
  policy.boot_pcrs[7] = {hash_of(crypto::HashAlgo::sha256, bytes_of("secure boot on")),
                         hash_of(crypto::HashAlgo::sha256, bytes_of("secure boot, new db"))};

  const std::string text = attest::runtime_policy_json(policy);
  auto parsed = attest::parse_runtime_policy(text, "policy.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->digests, policy.digests);
  EXPECT_EQ(parsed->exclude_globs, policy.exclude_globs);
  EXPECT_EQ(parsed->exclude_regexes, policy.exclude_regexes);
  EXPECT_EQ(parsed->key_pems, policy.key_pems);
  EXPECT_EQ(parsed->boot_pcrs, policy.boot_pcrs);
  EXPECT_EQ(parsed->keyring.size(), 1u);
  EXPECT_EQ(parsed->source, "policy.json");
  EXPECT_EQ(attest::runtime_policy_json(*parsed), text);
  // The documented shape.
  const auto document = nlohmann::json::parse(text);
  EXPECT_EQ(document["vigil_runtime_policy"], 1);
  EXPECT_EQ(document["digests"]["/usr/bin/ls"][1], "sm3:" + hex_of("ls", crypto::HashAlgo::sm3));
  EXPECT_EQ(document["boot_pcrs"]["7"][0], "sha256:" + hex_of("secure boot on", crypto::HashAlgo::sha256));
  // Without boot_pcrs the document has none (older policies stay byte for byte the same).
  policy.boot_pcrs.clear();
  EXPECT_FALSE(nlohmann::json::parse(attest::runtime_policy_json(policy)).contains("boot_pcrs"));
}

TEST(RuntimePolicyFormat, BootPcrsTakeKeylimesBareHexAndOnlyTheQuotedBootPcrs) {
  const std::string value = hex_of("firmware", crypto::HashAlgo::sha256);
  auto parsed = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 1, "boot_pcrs": {"4": [")" + value + R"("]}})");
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->boot_pcrs.count(4), 1u);
  EXPECT_EQ(parsed->boot_pcrs[4][0].hex(), value);
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {R"({"10": ["sha256:)" + value + R"("]})", "boot PCRs are 0 to 7"},
           {R"({"x": ["sha256:)" + value + R"("]})", "boot PCRs are 0 to 7"},
           {R"({"-1": ["sha256:)" + value + R"("]})", "boot PCRs are 0 to 7"},
           {R"({"0": []})", "non-empty list"},
           {R"({"0": "sha256:)" + value + R"("})", "non-empty list"},
           {R"({"0": [7]})", "must hold strings"},
           {R"({"0": ["sha1:)" + hex_of("x", crypto::HashAlgo::sha1) + R"("]})", "sha256 bank"},
           {R"({"0": ["abcd"]})", "sha256 digest must be 64 hex digits"},
           {R"(["0"])", "\"boot_pcrs\" must be an object"}}) {
    auto refused = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 1, "boot_pcrs": )" + text + "}", "p.json");
    ASSERT_FALSE(refused) << text;
    EXPECT_NE(refused.error().message.find(says), std::string::npos) << text << " -> " << refused.error().message;
  }
}

TEST(RuntimePolicyFormat, ErrorsNameTheFieldOrTheByte) {
  auto parsed = attest::parse_runtime_policy("{\"vigil_runtime_policy\": 1,\n \"digests\": {,}}", "p.json");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("p.json: JSON syntax error at byte 41"), std::string::npos)
      << parsed.error().message;

  parsed = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 1, "exclude": ["/tmp/*"]})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("unknown field \"exclude\""), std::string::npos) << parsed.error().message;

  parsed = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 2})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("version 1"), std::string::npos) << parsed.error().message;

  parsed = attest::parse_runtime_policy(R"({"digests": {}})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("\"vigil_runtime_policy\" is missing"), std::string::npos);

  parsed = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 1, "digests": {"/bin/x": ["sha256:abcd"]}})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("/bin/x: sha256 digest must be 64 hex digits"), std::string::npos)
      << parsed.error().message;

  parsed = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 1, "digests": {"/bin/x": ["md9:00"]}})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("unknown hash algorithm \"md9\""), std::string::npos);

  parsed = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 1, "exclude_regexes": ["(unclosed"]})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("does not compile"), std::string::npos) << parsed.error().message;

  parsed = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 1, "keys": ["not a key"]})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("no PEM certificate or public key"), std::string::npos)
      << parsed.error().message;

  parsed = attest::parse_runtime_policy(R"({"vigil_runtime_policy": 1, "excludes": "/tmp/*"})");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("\"excludes\" must be a list"), std::string::npos);
}

TEST(KeylimeImport, DigestsByLengthExcludesAnchoredAtTheStart) {
  const std::string sha256 = hex_of("tool", crypto::HashAlgo::sha256);
  const std::string sha1 = hex_of("tool", crypto::HashAlgo::sha1);
  const std::string text = R"({
    "meta": {"version": 1, "generator": 1},
    "release": 0,
    "digests": {"/usr/bin/tool": [")" + sha256 + R"(", ")" + sha1 + R"("], "boot_aggregate": []},
    "excludes": ["/tmp/.*", "boot_aggregate$"],
    "keyrings": {},
    "ima": {"ignored_keyrings": [], "log_hash_alg": "sha1", "dm_policy": null},
    "ima-buf": {},
    "verification-keys": ""
  })";
  auto policy = attest::import_keylime_policy(text, "keylime.json");
  ASSERT_TRUE(policy) << policy.error().message;
  ASSERT_EQ(policy->digests.at("/usr/bin/tool").size(), 2u);
  EXPECT_EQ(policy->digests.at("/usr/bin/tool")[0].algo, crypto::HashAlgo::sha256);
  EXPECT_EQ(policy->digests.at("/usr/bin/tool")[0].hex(), sha256);
  EXPECT_EQ(policy->digests.at("/usr/bin/tool")[1].algo, crypto::HashAlgo::sha1);
  EXPECT_EQ(policy->exclude_regexes, (std::vector<std::string>{"/tmp/.*", "boot_aggregate$"}));
  EXPECT_TRUE(policy->key_pems.empty());

  EXPECT_TRUE(attest::check_entry(*policy, file_entry("/tmp/dropper", "anything")).allowed);
  // re.match semantics: anchored at the start only.
  EXPECT_FALSE(attest::check_entry(*policy, file_entry("/var/tmp/dropper", "anything")).allowed);
  EXPECT_TRUE(attest::check_entry(*policy, file_entry("/usr/bin/tool", "tool")).allowed);
  EXPECT_FALSE(attest::check_entry(*policy, file_entry("/usr/bin/tool", "tool v2")).allowed);

  // The import survives vigil's format.
  auto again = attest::parse_runtime_policy(attest::runtime_policy_json(*policy));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->digests, policy->digests);
  EXPECT_TRUE(attest::check_entry(*again, file_entry("/tmp/dropper", "anything")).allowed);
}

TEST(KeylimeImport, VerificationKeysInEveryShape) {
  const auto ecdsa = make_key(crypto::KeyAlgo::ecdsa_p256);
  const auto rsa = make_key(crypto::KeyAlgo::rsa2048);
  const std::string ecdsa_pem = public_pem(ecdsa);
  const std::string rsa_pem = public_pem(rsa);

  auto import_with = [](const nlohmann::json& keys) {
    nlohmann::json document = {{"digests", nlohmann::json::object()}, {"verification-keys", keys}};
    return attest::import_keylime_policy(document.dump());
  };
  // A string holding a JSON list of PEM keys.
  auto policy = import_with(nlohmann::json::array({ecdsa_pem, rsa_pem}).dump());
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(policy->key_pems.size(), 2u);
  EXPECT_EQ(policy->keyring.size(), 2u);
  // A PEM as is.
  policy = import_with(ecdsa_pem);
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(policy->keyring.size(), 1u);
  // Keylime's own ImaKeyrings: {name: "{\"pubkeys\": [base64 DER], ...}"}.
  const nlohmann::json keyring = {{"meta", {{"version", 1}}},
                                  {"pubkeys", {attest::base64_encode(public_der(rsa))}},
                                  {"keyids", {1234}}};
  policy = import_with(nlohmann::json({{"tenant", keyring.dump()}}).dump());
  ASSERT_TRUE(policy) << policy.error().message;
  ASSERT_EQ(policy->key_pems.size(), 1u);
  EXPECT_EQ(policy->key_pems[0], rsa_pem);  // kept as PEM so vigil's format holds it
  // Empty: no keys.
  policy = import_with("");
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_TRUE(policy->keyring.empty());

  auto broken = import_with("[\"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n\"]");
  EXPECT_FALSE(broken);
  broken = import_with(42);
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("verification-keys"), std::string::npos) << broken.error().message;
}

TEST(KeylimeImport, RefusesBadDigestsAndRegexes) {
  auto policy = attest::import_keylime_policy(R"({"digests": {"/bin/x": ["abc"]}})", "k.json");
  ASSERT_FALSE(policy);
  EXPECT_NE(policy.error().message.find("k.json: \"digests\" of /bin/x"), std::string::npos) << policy.error().message;
  policy = attest::import_keylime_policy(R"({"digests": {"/bin/x": [")" + std::string(64, 'g') + R"("]}})");
  EXPECT_FALSE(policy);
  policy = attest::import_keylime_policy(R"({"excludes": ["[z-a]"]})");
  ASSERT_FALSE(policy);
  EXPECT_NE(policy.error().message.find("[z-a]"), std::string::npos) << policy.error().message;
  policy = attest::import_keylime_policy("[]");
  EXPECT_FALSE(policy);
}

TEST(PolicyGenerate, HashesEveryRegularFileWithEachAlgorithmWithoutFollowingSymlinksOut) {
  test::TempDir outside;
  test::write_text(outside / "secret", "outside the tree");
  test::TempDir tree;
  ASSERT_EQ(::mkdir((tree / "bin").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tree / "lib").c_str(), 0755), 0);
  test::write_text(tree / "bin/tool", "tool v1");
  test::write_text(tree / "lib/libx.so", "library");
  ASSERT_EQ(::symlink((outside / "secret").c_str(), (tree / "bin/link").c_str()), 0);
  ASSERT_EQ(::symlink(outside.path().c_str(), (tree / "outdir").c_str()), 0);

  attest::GenerateOptions options;
  options.algos = {crypto::HashAlgo::sm3, crypto::HashAlgo::sha256};
  options.path_prefix = "/";
  auto policy = attest::generate_from_tree(tree.path(), options);
  ASSERT_TRUE(policy) << policy.error().message;
  ASSERT_EQ(policy->digests.size(), 2u) << attest::runtime_policy_json(*policy);
  const auto& tool = policy->digests.at("/bin/tool");
  ASSERT_EQ(tool.size(), 2u);
  EXPECT_EQ(tool[0], hash_of(crypto::HashAlgo::sm3, bytes_of("tool v1")));
  EXPECT_EQ(tool[1], hash_of(crypto::HashAlgo::sha256, bytes_of("tool v1")));
  EXPECT_TRUE(policy->digests.contains("/lib/libx.so"));

  // The policy allows exactly what was there, in either hash.
  EXPECT_TRUE(attest::check_entry(*policy, file_entry("/bin/tool", "tool v1", crypto::HashAlgo::sm3)).allowed);
  EXPECT_TRUE(attest::check_entry(*policy, file_entry("/bin/tool", "tool v1")).allowed);
  EXPECT_FALSE(attest::check_entry(*policy, file_entry("/bin/tool", "tool v2")).allowed);

  options.path_prefix = "/opt/app";
  options.algos = {crypto::HashAlgo::sha256};
  policy = attest::generate_from_tree(tree.path(), options);
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_TRUE(policy->digests.contains("/opt/app/bin/tool"));
  EXPECT_EQ(policy->digests.at("/opt/app/bin/tool").size(), 1u);

  options.path_prefix.clear();  // absolute paths of the files themselves
  policy = attest::generate_from_tree(tree.path(), options);
  ASSERT_TRUE(policy) << policy.error().message;
  char resolved[PATH_MAX];
  ASSERT_NE(::realpath(tree.path().c_str(), resolved), nullptr);
  EXPECT_TRUE(policy->digests.contains(std::string(resolved) + "/bin/tool"));

  EXPECT_FALSE(attest::generate_from_tree(tree / "missing", options));
}

TEST(PolicyGenerate, FromATrustedListSkipsBootAggregateAndViolations) {
  SoftwareTpm tpm;
  MeasuredList list;
  list.record_boot_aggregate(tpm);
  list.record(tpm, file_entry("/usr/bin/a", "a"));
  list.record(tpm, file_entry("/usr/bin/a", "a"));  // measured twice: one digest
  list.record(tpm, file_entry("/usr/bin/a", "a v2", crypto::HashAlgo::sm3));
  list.record(tpm, violation_entry("/var/log/x"));
  const RuntimePolicy policy = attest::generate_from_measurements(list.entries);
  ASSERT_EQ(policy.digests.size(), 1u);
  ASSERT_EQ(policy.digests.at("/usr/bin/a").size(), 2u);
  for (const auto& entry : list.entries) {
    if (!entry.violation) {
      EXPECT_TRUE(attest::check_entry(policy, entry).allowed) << entry.path;
    }
  }
}

TEST(CheckEntry, OrderAndReasons) {
  RuntimePolicy policy;
  policy.digests["/usr/bin/ls"] = {hash_of(crypto::HashAlgo::sha256, bytes_of("ls"))};
  policy.exclude_globs = {"/tmp/*"};
  policy.exclude_regexes = {"/var/cache/"};
  ASSERT_TRUE(attest::compile_runtime_policy(policy));

  auto verdict = attest::check_entry(policy, file_entry("/usr/bin/ls", "ls"));
  EXPECT_TRUE(verdict.allowed);
  EXPECT_EQ(verdict.reason, "digest allowed");

  verdict = attest::check_entry(policy, file_entry("/tmp/a/b", "x"));  // FNM_PATHNAME off: * crosses '/'
  EXPECT_TRUE(verdict.allowed);
  EXPECT_EQ(verdict.reason, "excluded");
  EXPECT_TRUE(attest::check_entry(policy, file_entry("/var/cache/x", "x")).allowed);

  // Regexes are tried only on paths that start with their literal prefix: patterns whose start
  // is optional or alternated must still match.
  RuntimePolicy tricky;
  tricky.exclude_regexes = {"x*/opt/", "/nope|/srv/", "\\/data\\.d/", "/ho?me/"};
  ASSERT_TRUE(attest::compile_runtime_policy(tricky));
  for (const char* path : {"/opt/a", "xx/opt/a", "/srv/a", "/data.d/a", "/hme/a", "/home/a"}) {
    EXPECT_TRUE(attest::check_entry(tricky, file_entry(path, "x")).allowed) << path;
  }
  for (const char* path : {"/data-d/a", "/hoome/a", "/x/opt/a"}) {
    EXPECT_FALSE(attest::check_entry(tricky, file_entry(path, "x")).allowed) << path;
  }
  EXPECT_TRUE(attest::check_entry(policy, violation_entry("/tmp/x")).allowed);  // excluded first

  verdict = attest::check_entry(policy, file_entry("/usr/bin/ls", "trojan"));
  EXPECT_FALSE(verdict.allowed);
  EXPECT_NE(verdict.reason.find("digest sha256:" + hex_of("trojan", crypto::HashAlgo::sha256) + " not allowed"),
            std::string::npos)
      << verdict.reason;
  EXPECT_NE(verdict.reason.find("(allowed: sha256:" + hex_of("ls", crypto::HashAlgo::sha256).substr(0, 16) + "...)"),
            std::string::npos)
      << verdict.reason;

  verdict = attest::check_entry(policy, file_entry("/usr/bin/nc", "nc"));
  EXPECT_FALSE(verdict.allowed);
  EXPECT_NE(verdict.reason.find("not in the policy"), std::string::npos) << verdict.reason;

  verdict = attest::check_entry(policy, violation_entry("/usr/bin/ls"));
  EXPECT_FALSE(verdict.allowed);
  EXPECT_NE(verdict.reason.find("violation"), std::string::npos);

  SoftwareTpm tpm;
  MeasuredList list;
  list.record_boot_aggregate(tpm);
  EXPECT_TRUE(attest::check_entry(policy, list.entries[0]).allowed);
  policy.digests["boot_aggregate"] = {hash_of(crypto::HashAlgo::sha256, bytes_of("other boot"))};
  EXPECT_FALSE(attest::check_entry(policy, list.entries[0]).allowed);
  policy.digests["boot_aggregate"].push_back(list.entries[0].file_digest);
  EXPECT_TRUE(attest::check_entry(policy, list.entries[0]).allowed);
}

TEST(CheckEntry, SignedEntriesSm2AndEcdsa) {
  const auto sm2 = make_key(crypto::KeyAlgo::sm2);
  const auto ecdsa = make_key(crypto::KeyAlgo::ecdsa_p256);
  const auto untrusted = make_key(crypto::KeyAlgo::sm2);
  RuntimePolicy policy;
  policy.key_pems = {public_pem(sm2), public_pem(ecdsa)};
  policy.digests["/opt/legacy"] = {hash_of(crypto::HashAlgo::sm3, bytes_of("legacy"))};
  ASSERT_TRUE(attest::compile_runtime_policy(policy));

  auto keyid = ima::keyid_from_public_key(sm2);
  ASSERT_TRUE(keyid);
  auto verdict = attest::check_entry(policy, signed_entry("/opt/app", "app", sm2, crypto::HashAlgo::sm3));
  EXPECT_TRUE(verdict.allowed) << verdict.reason;
  EXPECT_EQ(verdict.reason, "signed by key " + ima::keyid_hex(*keyid));
  verdict = attest::check_entry(policy, signed_entry("/opt/app", "app", ecdsa, crypto::HashAlgo::sha256));
  EXPECT_TRUE(verdict.allowed) << verdict.reason;

  // A trusted key's signature over other content: the binary was replaced, its xattr kept.
  auto replaced = signed_entry("/opt/app", "app", sm2, crypto::HashAlgo::sm3);
  replaced.file_digest = hash_of(crypto::HashAlgo::sm3, bytes_of("app (trojaned)"));
  ima::compute_template_hashes(replaced);
  verdict = attest::check_entry(policy, replaced);
  EXPECT_FALSE(verdict.allowed);
  EXPECT_NE(verdict.reason.find("signature by key " + ima::keyid_hex(*keyid) + " (SM2) does not verify"),
            std::string::npos)
      << verdict.reason;

  // A key the policy does not trust: the digest decides.
  verdict = attest::check_entry(policy, signed_entry("/opt/app", "app", untrusted, crypto::HashAlgo::sm3));
  EXPECT_FALSE(verdict.allowed);
  EXPECT_NE(verdict.reason.find("not in the policy"), std::string::npos) << verdict.reason;
  verdict = attest::check_entry(policy, signed_entry("/opt/legacy", "legacy", untrusted, crypto::HashAlgo::sm3));
  EXPECT_TRUE(verdict.allowed) << verdict.reason;

  // Without compile (no keyring), signatures are not trusted: fail closed.
  RuntimePolicy uncompiled;
  uncompiled.key_pems = policy.key_pems;
  EXPECT_FALSE(attest::check_entry(uncompiled, signed_entry("/opt/app", "app", sm2, crypto::HashAlgo::sm3)).allowed);

  auto malformed = file_entry("/opt/app", "app");
  malformed.template_name = ima::TemplateName::ima_sig;
  malformed.signature = {0x03, 0x02};
  verdict = attest::check_entry(policy, malformed);
  EXPECT_FALSE(verdict.allowed);
  EXPECT_NE(verdict.reason.find("malformed signature"), std::string::npos) << verdict.reason;
}

}  // namespace
