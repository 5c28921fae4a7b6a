// Image manifests (src/image, docs/image.md): a real tree scanned, signed, parsed and checked,
// every kind of difference found and named, untrusted and malformed manifests refused.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "support/test_support.h"

namespace vigil::image {
namespace {

using test::TempDir;

std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

void write_file(const std::string& path, const std::string& text, mode_t mode = 0644) {
  test::write_text(path, text);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

struct SigningKey {
  crypto::Key key;
  crypto::Certificate cert;
};

SigningKey make_key(crypto::KeyAlgo algo = crypto::KeyAlgo::ecdsa_p256) {
  auto key = crypto::generate_key(algo);
  EXPECT_TRUE(key) << key.error().message;
  auto cert = crypto::make_certificate(*key, crypto::CertificateRequest{});
  EXPECT_TRUE(cert) << cert.error().message;
  return {*key, *cert};
}

class ImageManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_ / "rootfs";
    for (const char* sub : {"", "/bin", "/etc", "/tmp", "/usr", "/usr/lib"}) {
      ASSERT_TRUE(std::filesystem::create_directories(root_ + sub) || std::string(sub).empty());
    }
    write_file(root_ + "/bin/busybox", std::string(100000, 'b') + "end", 0755);
    ASSERT_EQ(::symlink("busybox", (root_ + "/bin/sh").c_str()), 0);
    ASSERT_EQ(::link((root_ + "/bin/busybox").c_str(), (root_ + "/bin/ls").c_str()), 0);
    write_file(root_ + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    write_file(root_ + "/etc/odd name\nwith newline%", "odd\n");
    write_file(root_ + "/usr/lib/empty", "");
    ASSERT_EQ(::mkfifo((root_ + "/tmp/fifo").c_str(), 0600), 0);
    ASSERT_EQ(::chmod((root_ + "/tmp").c_str(), 01777), 0);
    keyring_.add_certificate(signer_.cert, "trusted.crt");
  }

  std::string sign(const SigningKey& key, crypto::HashAlgo hash = crypto::HashAlgo::sha256) {
    ScanOptions options;
    options.hash = hash;
    auto tree = scan_tree(root_, options);
    EXPECT_TRUE(tree) << tree.error().message;
    EXPECT_TRUE(tree->problems.empty());
    auto text = sign_manifest(tree->manifest, key.key, &key.cert);
    EXPECT_TRUE(text) << text.error().message;
    return *text;
  }

  Verification verify(const std::string& manifest) { return verify_tree(root_, bytes_of(manifest), keyring_); }

  // The one difference a change made, or a failure listing all of them.
  static std::optional<Difference> only_difference(const Verification& result) {
    EXPECT_EQ(result.status, Verification::Status::differs) << result.reason;
    EXPECT_EQ(result.differences.size(), 1u) << describe(result);
    if (result.differences.size() != 1) return std::nullopt;
    return result.differences[0];
  }

  static std::string describe(const Verification& result) {
    std::string text = std::string(verification_status_name(result.status)) + " " + result.reason + "\n";
    for (const auto& d : result.differences) {
      text += std::string(difference_kind_name(d.kind)) + " " + d.path + ": " + d.detail + "\n";
    }
    return text;
  }

  TempDir dir_;
  std::string root_;
  SigningKey signer_{make_key()};
  ima::Keyring keyring_;
};

TEST_F(ImageManifestTest, SignedTreeVerifiesWithEveryEntryRecorded) {
  const std::string manifest = sign(signer_);
  const Verification result = verify(manifest);
  EXPECT_EQ(result.status, Verification::Status::ok) << describe(result);
  EXPECT_EQ(result.signer, "trusted.crt");
  ASSERT_TRUE(result.manifest);
  const auto& entries = result.manifest->manifest.entries;
  std::vector<std::string> paths;
  for (const auto& entry : entries) paths.push_back(escape_path(entry.path));
  EXPECT_EQ(paths, (std::vector<std::string>{".", "bin", "bin/busybox", "bin/ls", "bin/sh", "etc",
                                             "etc/odd%20name%0Awith%20newline%25", "etc/passwd", "tmp", "tmp/fifo",
                                             "usr", "usr/lib", "usr/lib/empty"}));
  EXPECT_NE(manifest.find("\nh bin/ls bin/busybox\n"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\nl bin/sh 0777 "), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\nd tmp 1777 "), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\np tmp/fifo 0600 "), std::string::npos) << manifest;
  EXPECT_EQ(result.entries_checked, entries.size());
}

TEST_F(ImageManifestTest, EncodingTheParsedManifestGivesBackItsSignedText) {
  const std::string manifest = sign(signer_);
  auto parsed = parse_manifest(bytes_of(manifest));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const std::string body = encode_body(parsed->manifest);
  EXPECT_EQ(manifest.substr(0, body.size()), body);
  EXPECT_TRUE(manifest.substr(body.size()).starts_with("signature "));
}

TEST_F(ImageManifestTest, Sm2AndRsaKeysSignManifestsThatVerify) {
  for (const auto algo : {crypto::KeyAlgo::sm2, crypto::KeyAlgo::rsa2048, crypto::KeyAlgo::ecdsa_p384}) {
    const SigningKey key = make_key(algo);
    keyring_.add_certificate(key.cert, "other.crt");
    const auto hash = algo == crypto::KeyAlgo::sm2 ? crypto::HashAlgo::sm3 : crypto::HashAlgo::sha256;
    const std::string manifest = sign(key, hash);
    EXPECT_NE(manifest.find(std::string("\nhash ") + std::string(crypto::hash_name(hash)) + "\n"), std::string::npos);
    const Verification result = verify(manifest);
    EXPECT_EQ(result.status, Verification::Status::ok) << crypto::key_algo_name(algo) << ": " << describe(result);
  }
}

TEST_F(ImageManifestTest, Sm2KeyRefusesNonSm3Manifest) {
  const SigningKey key = make_key(crypto::KeyAlgo::sm2);
  auto tree = scan_tree(root_, ScanOptions{});
  ASSERT_TRUE(tree);
  auto text = sign_manifest(tree->manifest, key.key, &key.cert);
  ASSERT_FALSE(text);
  EXPECT_NE(text.error().message.find("SM2"), std::string::npos) << text.error().message;
}

TEST_F(ImageManifestTest, OneByteChangedIsAContentDifference) {
  const std::string manifest = sign(signer_);
  {
    std::fstream file(root_ + "/etc/passwd", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(5);
    file.put('X');
  }
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->kind, Difference::Kind::content);
  EXPECT_EQ(difference->path, "etc/passwd");
  EXPECT_NE(difference->detail.find("sha256:"), std::string::npos) << difference->detail;
}

TEST_F(ImageManifestTest, ContentChangedThroughAHardLinkIsReportedOnce) {
  const std::string manifest = sign(signer_);
  test::write_text(root_ + "/bin/ls", "replaced in place");  // same inode as bin/busybox
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->kind, Difference::Kind::content);
  EXPECT_EQ(difference->path, "bin/busybox");
}

TEST_F(ImageManifestTest, AddedFileIsReported) {
  const std::string manifest = sign(signer_);
  write_file(root_ + "/usr/lib/dropped", "payload", 0755);
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->kind, Difference::Kind::added);
  EXPECT_EQ(difference->path, "usr/lib/dropped");
}

TEST_F(ImageManifestTest, RemovedFileIsReported) {
  const std::string manifest = sign(signer_);
  ASSERT_EQ(::unlink((root_ + "/usr/lib/empty").c_str()), 0);
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->kind, Difference::Kind::removed);
  EXPECT_EQ(difference->path, "usr/lib/empty");
}

TEST_F(ImageManifestTest, ModeChangeIncludingSetuidIsAMetadataDifference) {
  const std::string manifest = sign(signer_);
  ASSERT_EQ(::chmod((root_ + "/etc/passwd").c_str(), 04755), 0);
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->kind, Difference::Kind::metadata);
  EXPECT_EQ(difference->detail, "mode 0644 -> 4755");
}

TEST_F(ImageManifestTest, RetargetedSymlinkIsReportedAndNotFollowed) {
  const std::string manifest = sign(signer_);
  ASSERT_EQ(::unlink((root_ + "/bin/sh").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/shadow", (root_ + "/bin/sh").c_str()), 0);
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->kind, Difference::Kind::metadata);
  EXPECT_EQ(difference->detail, "symlink target busybox -> /etc/shadow");
}

TEST_F(ImageManifestTest, FileReplacedByDirectoryIsATypeDifferenceAndItsContentsAdded) {
  const std::string manifest = sign(signer_);
  ASSERT_EQ(::unlink((root_ + "/usr/lib/empty").c_str()), 0);
  ASSERT_EQ(::mkdir((root_ + "/usr/lib/empty").c_str(), 0755), 0);
  write_file(root_ + "/usr/lib/empty/x", "x");
  const Verification result = verify(manifest);
  ASSERT_EQ(result.differences.size(), 2u) << describe(result);
  EXPECT_EQ(result.differences[0].detail, "type file -> directory");
  EXPECT_EQ(result.differences[1].kind, Difference::Kind::added);
  EXPECT_EQ(result.differences[1].path, "usr/lib/empty/x");
}

TEST_F(ImageManifestTest, HardLinkBrokenOrMadeIsAMetadataDifference) {
  const std::string manifest = sign(signer_);
  // bin/ls becomes a file of its own with the same content: only the link changed.
  const std::string content = test::read_text(root_ + "/bin/busybox");
  ASSERT_EQ(::unlink((root_ + "/bin/ls").c_str()), 0);
  write_file(root_ + "/bin/ls", content, 0755);
  // etc/passwd becomes the same inode as usr/lib/empty... with passwd's content: writing one
  // would change the other.
  ASSERT_EQ(::unlink((root_ + "/usr/lib/empty").c_str()), 0);
  ASSERT_EQ(::link((root_ + "/etc/passwd").c_str(), (root_ + "/usr/lib/empty").c_str()), 0);
  const Verification result = verify(manifest);
  ASSERT_EQ(result.differences.size(), 3u) << describe(result);
  EXPECT_EQ(result.differences[0].path, "bin/ls");
  EXPECT_EQ(result.differences[0].detail, "hard links: same file as bin/busybox -> a file of its own");
  EXPECT_EQ(result.differences[1].path, "usr/lib/empty");
  EXPECT_EQ(result.differences[1].detail, "hard links: a file of its own -> same file as etc/passwd");
  EXPECT_EQ(result.differences[2].path, "usr/lib/empty");
  EXPECT_EQ(result.differences[2].kind, Difference::Kind::content);
}

TEST_F(ImageManifestTest, HardLinkFromOutsideTheTreeIsReported) {
  const std::string manifest = sign(signer_);
  const std::string outside = dir_ / "outside-link";
  ASSERT_EQ(::link((root_ + "/etc/passwd").c_str(), outside.c_str()), 0);
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->path, "etc/passwd");
  EXPECT_NE(difference->detail.find("hard-linked from outside"), std::string::npos) << difference->detail;
}

TEST_F(ImageManifestTest, FifoAddedIsReported) {
  const std::string manifest = sign(signer_);
  ASSERT_EQ(::mkfifo((root_ + "/bin/pipe").c_str(), 0644), 0);
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->kind, Difference::Kind::added);
  EXPECT_EQ(difference->detail, "FIFO");
}

TEST_F(ImageManifestTest, EveryDifferenceIsReportedNotOnlyTheFirst) {
  const std::string manifest = sign(signer_);
  test::write_text(root_ + "/etc/passwd", "changed\n");
  ASSERT_EQ(::chmod((root_ + "/etc").c_str(), 0777), 0);
  write_file(root_ + "/etc/new", "new");
  ASSERT_EQ(::unlink((root_ + "/tmp/fifo").c_str()), 0);
  const Verification result = verify(manifest);
  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& d : result.differences) seen.emplace_back(d.path, std::string(difference_kind_name(d.kind)));
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{
                      {"etc", "metadata"}, {"etc/new", "added"}, {"etc/passwd", "content"}, {"tmp/fifo", "removed"}}))
      << describe(result);
}

// Owner and device numbers need root to change on disk: compare() is checked on the records.
TEST_F(ImageManifestTest, OwnerAndDeviceNumberChangesAreMetadataDifferences) {
  auto tree = scan_tree(root_, ScanOptions{});
  ASSERT_TRUE(tree);
  Manifest expected = tree->manifest;
  Entry device;
  device.path = "tmp/null";
  device.type = EntryType::char_device;
  device.mode = 0666;
  device.major = 1;
  device.minor = 3;
  expected.entries.push_back(device);
  ScannedTree actual = *tree;
  device.minor = 5;
  actual.manifest.entries.push_back(device);
  for (auto& entry : actual.manifest.entries) {
    if (entry.path == "etc/passwd") entry.uid = 1000;
  }
  const auto differences = compare(expected, actual);
  ASSERT_EQ(differences.size(), 2u);
  EXPECT_EQ(differences[0].detail, "owner 0:0 -> 1000:0");
  EXPECT_EQ(differences[1].detail, "device 1:3 -> 1:5");
}

TEST_F(ImageManifestTest, AddedFileCapabilityIsAMetadataDifference) {
  const std::string manifest = sign(signer_);
  // VFS_CAP_REVISION_2 with cap_net_raw (bit 13) permitted.
  const uint8_t capability[20] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00};
  if (::setxattr((root_ + "/bin/busybox").c_str(), "security.capability", capability, sizeof capability, 0) != 0) {
    GTEST_SKIP() << "setting security.capability needs CAP_SETFCAP: " << std::strerror(errno);
  }
  const auto difference = only_difference(verify(manifest));
  ASSERT_TRUE(difference);
  EXPECT_EQ(difference->path, "bin/busybox");
  EXPECT_TRUE(difference->detail.starts_with("file capabilities none -> 0000000200200000")) << difference->detail;
}

TEST_F(ImageManifestTest, ManifestSignedByAKeyNotInTheKeyringIsUntrusted) {
  const SigningKey stranger = make_key();
  const Verification result = verify(sign(stranger));
  EXPECT_EQ(result.status, Verification::Status::untrusted);
  EXPECT_NE(result.reason.find("not in the keyring"), std::string::npos) << result.reason;
  EXPECT_TRUE(result.differences.empty());
}

TEST_F(ImageManifestTest, ManifestEditedAfterSigningIsUntrusted) {
  std::string manifest = sign(signer_);
  // Make the manifest agree with a tampered tree: the signature no longer covers it.
  test::write_text(root_ + "/etc/passwd", "root::0:0::/:/bin/sh\n");
  auto tree = scan_tree(root_, ScanOptions{});
  ASSERT_TRUE(tree);
  const std::string forged_body = encode_body(tree->manifest);
  const std::string signature_line = manifest.substr(manifest.find("\nsignature ") + 1);
  const Verification result = verify(forged_body + signature_line);
  EXPECT_EQ(result.status, Verification::Status::untrusted);
  EXPECT_NE(result.reason.find("does not verify"), std::string::npos) << result.reason;
}

TEST_F(ImageManifestTest, SymlinkedRootBelowIsNotFollowed) {
  // A directory swapped for a symlink to somewhere else is a type change, never a walk there.
  const std::string manifest = sign(signer_);
  std::filesystem::remove_all(root_ + "/usr/lib");
  ASSERT_EQ(::symlink("/usr/lib", (root_ + "/usr/lib").c_str()), 0);
  const Verification result = verify(manifest);
  ASSERT_EQ(result.differences.size(), 2u) << describe(result);
  EXPECT_EQ(result.differences[0].detail, "type directory -> symlink");
  EXPECT_EQ(result.differences[1].kind, Difference::Kind::removed);
  EXPECT_EQ(result.differences[1].path, "usr/lib/empty");
}

TEST_F(ImageManifestTest, SbomIsSpdx23WithSha1AndSha256OfEveryFile) {
  ScanOptions options;
  options.hash = crypto::HashAlgo::sm3;
  options.extra_hashes = {crypto::HashAlgo::sha1, crypto::HashAlgo::sha256};
  auto tree = scan_tree(root_, options);
  ASSERT_TRUE(tree);
  auto text = spdx_json(*tree, SbomInfo{"busybox image", "abcd", "2026-12-07T22:00:00Z", "vigil-test"});
  ASSERT_TRUE(text) << text.error().message;
  const auto document = nlohmann::json::parse(*text);
  EXPECT_EQ(document["spdxVersion"], "SPDX-2.3");
  EXPECT_EQ(document["documentNamespace"], "https://vigil.invalid/spdx/image/busybox-image-abcd");
  const auto& files = document["files"];
  ASSERT_EQ(files.size(), 5u);  // busybox, ls (its hard link), odd name, passwd, empty
  const auto passwd = std::find_if(files.begin(), files.end(), [](const auto& f) { return f["fileName"] == "./etc/passwd"; });
  ASSERT_NE(passwd, files.end());
  // sha1sum / sha256sum of "root:x:0:0:root:/root:/bin/sh\n".
  crypto::Hasher hasher;
  const std::string content = "root:x:0:0:root:/root:/bin/sh\n";
  EXPECT_EQ((*passwd)["checksums"][0]["algorithm"], "SHA1");
  EXPECT_EQ((*passwd)["checksums"][0]["checksumValue"], hasher.of_bytes(crypto::HashAlgo::sha1, bytes_of(content))->hex());
  EXPECT_EQ((*passwd)["checksums"][1]["algorithm"], "SHA256");
  EXPECT_EQ((*passwd)["checksums"][1]["checksumValue"], hasher.of_bytes(crypto::HashAlgo::sha256, bytes_of(content))->hex());
  EXPECT_EQ((*passwd)["comment"], "SM3: " + hasher.of_bytes(crypto::HashAlgo::sm3, bytes_of(content))->hex());
  EXPECT_EQ(document["packages"][0]["hasFiles"].size(), 5u);
  EXPECT_EQ(document["packages"][0]["packageVerificationCode"]["packageVerificationCodeValue"].get<std::string>().size(), 40u);
}

// Malformed manifests: each names its line and what is wrong.
TEST_F(ImageManifestTest, MalformedManifestsGiveClearErrors) {
  const std::string good = sign(signer_);
  auto error_of = [](const std::string& text) {
    auto parsed = parse_manifest(bytes_of(text));
    return parsed ? std::string("parsed") : parsed.error().message;
  };
  const std::string owner = std::to_string(::getuid()) + " " + std::to_string(::getgid());
  auto replace = [&](const std::string& what, const std::string& with) {
    std::string text = good;
    const size_t at = text.find(what);
    EXPECT_NE(at, std::string::npos) << what;
    return text.replace(at, what.size(), with);
  };
  EXPECT_EQ(error_of(""), "manifest: truncated: the manifest ends before its signature (after line 0)");
  EXPECT_EQ(error_of("PK\x03\x04"), "manifest: line 1: truncated: the line does not end with a newline");
  EXPECT_EQ(error_of("{\"json\": 1}\n"), "manifest: line 1: not a vigil image manifest (expected 'vigil-image-manifest 1')");
  EXPECT_EQ(error_of(good.substr(0, good.find("\nend\n") + 1)),
            "manifest: truncated: the manifest ends before its signature (after line 15)");
  EXPECT_EQ(error_of(good.substr(0, good.size() - 1)), "manifest: line 17: truncated: the line does not end with a newline");
  EXPECT_EQ(error_of(good + "x"), "manifest: bytes after the signature line");
  EXPECT_EQ(error_of(replace("hash sha256", "hash md5")), "manifest: line 2: hash: expected sm3, sha256, sha384 or sha512");
  EXPECT_EQ(error_of(replace("hash sha256", "hash SHA256")), "manifest: line 2: hash: expected sm3, sha256, sha384 or sha512");
  EXPECT_EQ(error_of(replace("\nd etc ", "\nd ../etc ")), "manifest: line 8: path has a '.' or '..' component");
  EXPECT_EQ(error_of(replace("\nd etc ", "\nd /etc ")),
            "manifest: line 8: path has an empty component (leading, trailing or double '/')");
  EXPECT_EQ(error_of(replace("\nd usr ", "\nd usr/lib/x ")),
            "manifest: line 13: parent directory 'usr/lib' is not an earlier directory entry");
  EXPECT_EQ(error_of(replace("h bin/ls bin/busybox", "h bin/ls etc/passwd")),
            "manifest: line 6: hard link target 'etc/passwd' is not an earlier file entry");
  EXPECT_EQ(error_of(replace("%20name", "%2")), "manifest: line 9: path: '%' not followed by two upper-case hex digits");
  EXPECT_EQ(error_of(replace("%20name", "%41name")), "manifest: line 9: path: '%' escapes a byte that must be written as itself");
  EXPECT_EQ(error_of(replace(" 0644 ", " 644 ")), "manifest: line 9: mode: expected 4 octal digits");
  EXPECT_EQ(error_of(replace("\nd tmp 1777 " + owner + "\n",
                             "\nd tmp 1777 " + std::to_string(::getuid()) + " 0" + std::to_string(::getgid()) + "\n")),
            "manifest: line 11: gid: expected a decimal number without leading zeros");
  EXPECT_EQ(error_of(replace("\nd tmp 1777 " + owner + "\n", "\nd tmp 1777 " + owner + " extra\n")),
            "manifest: line 11: directory entry: expected 5 fields, found 6");
  EXPECT_EQ(error_of(replace("\nd tmp ", "\nx tmp ")), "manifest: line 11: unknown entry type 'x' (d f h l c b p s)");
  EXPECT_EQ(error_of(replace("\nd usr ", "\nd etc ")),
            "manifest: line 13: entries out of order or repeated ('etc' after 'tmp/fifo')");
  EXPECT_EQ(error_of(replace("\nsignature ", "\nsignatur ")), "manifest: line 17: expected 'signature KEYID HEX'");
  // Every truncation of a good manifest is an error, never a crash or a shorter manifest.
  for (size_t length = 0; length < good.size(); ++length) {
    EXPECT_FALSE(parse_manifest(bytes_of(good.substr(0, length)))) << "length " << length;
  }
}

TEST_F(ImageManifestTest, RootThatIsNotADirectoryIsAClearError) {
  auto scanned = scan_tree(root_ + "/etc/passwd", ScanOptions{});
  ASSERT_FALSE(scanned);
  EXPECT_EQ(scanned.error().message, root_ + "/etc/passwd: not a directory");
  const Verification result = verify_tree(dir_ / "missing", bytes_of(sign(signer_)), keyring_);
  EXPECT_EQ(result.status, Verification::Status::differs);
  ASSERT_EQ(result.differences.size(), 1u);
  EXPECT_EQ(result.differences[0].kind, Difference::Kind::unreadable);
  EXPECT_NE(result.differences[0].detail.find("No such file"), std::string::npos) << result.differences[0].detail;
}

// A file replaced between the listing and its hashing is not silently hashed in its new form:
// the scan reports it (and sign writes nothing, verify fails).
TEST_F(ImageManifestTest, FileSwappedDuringTheScanIsAProblemNotAHash) {
  ScanOptions options;
  options.run_batch = [&](size_t count, const std::function<void(size_t)>& work) {
    // Renamed away, not unlinked: a new file could get the freed inode number.
    ASSERT_EQ(::rename((root_ + "/etc/passwd").c_str(), (dir_ / "kept").c_str()), 0);
    write_file(root_ + "/etc/passwd", "swapped after listing");
    for (size_t i = 0; i < count; ++i) work(i);
  };
  auto tree = scan_tree(root_, options);
  ASSERT_TRUE(tree);
  ASSERT_EQ(tree->problems.size(), 1u);
  EXPECT_EQ(tree->problems[0].path, "etc/passwd");
  EXPECT_NE(tree->problems[0].reason.find("changed while walking"), std::string::npos) << tree->problems[0].reason;
  const auto differences = compare(tree->manifest, *tree);
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0].kind, Difference::Kind::unreadable);
}

}  // namespace
}  // namespace vigil::image

namespace vigil::image {
namespace {

TEST(ImageMeasurementRequest, RoundTripsAndBecomesAnImaNgEntry) {
  ImageMeasurement measurement;
  measurement.container = "payment-7";
  crypto::Hasher hasher;
  measurement.manifest = *hasher.of_bytes(crypto::HashAlgo::sha256, std::span<const uint8_t>());
  const std::string request = image_measurement_request(measurement);
  EXPECT_EQ(request, "{\"container\":\"payment-7\",\"manifest_digest\":\"sha256:" + measurement.manifest.hex() + "\"}\n");
  auto parsed = parse_image_measurement(request.substr(0, request.size() - 1));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->container, "payment-7");
  EXPECT_EQ(parsed->manifest, measurement.manifest);
  const auto entry = image_measurement_entry(*parsed, 11);
  EXPECT_EQ(entry.pcr, 11u);
  EXPECT_EQ(entry.template_name, ima::TemplateName::ima_ng);
  EXPECT_EQ(entry.path, "oci-image:payment-7");
  EXPECT_EQ(ima::ascii_line(entry).substr(0, 3), "11 ");
  EXPECT_NE(ima::ascii_line(entry).find(" ima-ng sha256:" + measurement.manifest.hex() + " oci-image:payment-7\n"),
            std::string::npos)
      << ima::ascii_line(entry);
}

TEST(ImageMeasurementRequest, MalformedRequestsAreRefusedWithTheReason) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  auto error_of = [](const std::string& line) {
    auto parsed = parse_image_measurement(line);
    return parsed ? std::string("parsed") : parsed.error().message;
  };
  EXPECT_EQ(error_of("not json"), "not a JSON object");
  EXPECT_EQ(error_of("{\"manifest_digest\":\"" + digest + "\"}"), "no \"container\" string");
  EXPECT_EQ(error_of("{\"container\":\"a b\",\"manifest_digest\":\"" + digest + "\"}"),
            "container id: no spaces or control characters");
  EXPECT_EQ(error_of("{\"container\":\"\",\"manifest_digest\":\"" + digest + "\"}"), "container id: 1 to 256 bytes");
  EXPECT_EQ(error_of("{\"container\":\"c\",\"manifest_digest\":\"sm3:" + std::string(64, 'a') + "\"}"),
            "manifest_digest: expected sha256: and 64 hex digits");
  EXPECT_EQ(error_of("{\"container\":\"c\",\"manifest_digest\":\"sha256:" + std::string(64, 'A') + "\"}"),
            "manifest_digest: expected lower-case hex digits");
  EXPECT_EQ(error_of("{\"container\":\"c\",\"manifest_digest\":\"" + digest + "\"}"), "parsed");
}

}  // namespace
}  // namespace vigil::image
