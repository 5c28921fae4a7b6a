#pragma once
// Signed image manifests (docs/image.md): every entry of a root filesystem (path, type, mode,
// owner, size, digest, symlink target, device numbers, hard links, file capabilities) in a
// line-oriented text that is signed as a whole with the keys `vigil keygen` makes (SM2/SM3,
// ECDSA, RSA), checked against a keyring like IMA signatures are, and compared with a tree
// entry by entry. `vigil image` and `vigil oci-hook` are its users.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "crypto/crypto.h"
#include "ima/ima.h"
#include "ima/measurement_list.h"

namespace vigil::image {

// The largest manifest read (a million entries is about 150 MB).
inline constexpr size_t kMaxManifestSize = size_t{512} << 20;

enum class EntryType : char {
  directory = 'd',
  file = 'f',
  hard_link = 'h',  // the same inode as an earlier file entry (`target`)
  symlink = 'l',
  char_device = 'c',
  block_device = 'b',
  fifo = 'p',
  socket = 's',
};
std::string_view entry_type_name(EntryType type);  // "directory", "file", ...

struct Entry {
  std::string path;  // below the root, components joined by '/'; "." is the root itself
  EntryType type = EntryType::file;
  uint32_t mode = 0;  // permission bits with setuid/setgid/sticky (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Regular files:
  uint64_t size = 0;
  crypto::Digest digest;
  std::vector<uint8_t> capability;  // the security.capability xattr, empty when none
  // Symlinks: the target as stored. Hard links: the path of the file entry they share an inode with.
  std::string target;
  // Devices:
  uint32_t major = 0;
  uint32_t minor = 0;
  // Found by a scan, never written: links to this inode from outside the tree (st_nlink
  // beyond the paths in the tree), and a directory that is another filesystem's mount point.
  uint64_t outside_links = 0;
  bool other_filesystem = false;
};

struct Manifest {
  crypto::HashAlgo hash = crypto::HashAlgo::sha256;
  std::vector<Entry> entries;  // sorted by path (bytewise), "." first
};

// The manifest's signed text (everything up to and including the "end" line).
std::string encode_body(const Manifest& manifest);

struct SignedManifest {
  Manifest manifest;
  uint32_t keyid = 0;
  std::vector<uint8_t> signature;
  crypto::Digest body_digest;  // manifest.hash over the signed text
  crypto::Digest file_digest;  // SHA-256 over the whole file: the manifest's identity
};

// Parses untrusted bytes. Canonical form only (one way to write each manifest), so that
// encode_body(parse(x)) reproduces x's signed text. Errors name the line and what is wrong.
Result<SignedManifest> parse_manifest(std::span<const uint8_t> bytes);

// The whole manifest file: body and signature line. SM2 keys sign SM3 manifests only.
Result<std::string> sign_manifest(const Manifest& manifest, const crypto::Key& key, const crypto::Certificate* cert);

struct Trust {
  bool trusted = false;
  std::string reason;  // why not, when not trusted
  std::string signer;  // the keyring entry (file) that verified it
};
Trust check_signature(const SignedManifest& manifest, const ima::Keyring& keyring);

// Runs work(i) for each i in [0, count), in parallel if it wishes (cli: run_batch).
using BatchRunner = std::function<void(size_t count, const std::function<void(size_t)>& work)>;

struct ScanOptions {
  crypto::HashAlgo hash = crypto::HashAlgo::sha256;
  // Further digests of each regular file, read in the same pass (the SBOM's SHA-1 and SHA-256).
  std::vector<crypto::HashAlgo> extra_hashes;
  BatchRunner run_batch;  // null: one thread
};

struct ScanProblem {
  std::string path;    // relative, as in the manifest
  std::string reason;
};

struct ScannedTree {
  Manifest manifest;
  std::vector<ScanProblem> problems;  // entries that could not be read (the tree is then not verified)
  // extra_digests[i][k]: extra_hashes[k] of manifest.entries[i] (files only; empty otherwise).
  std::vector<std::vector<crypto::Digest>> extra_digests;
};

// Walks a directory through common/tree_walk (never leaving the tree, never following a
// symlink below the root, not entering other filesystems) and records every entry.
Result<ScannedTree> scan_tree(const std::string& root, const ScanOptions& options);

struct Difference {
  enum class Kind { added, removed, content, metadata, unreadable };
  Kind kind;
  std::string path;
  std::string detail;
};
std::string_view difference_kind_name(Difference::Kind kind);  // "added", "removed", ...

// Every difference between what the manifest records and what a scan found, in path order.
std::vector<Difference> compare(const Manifest& expected, const ScannedTree& actual);

// Parse, check the signature, scan, compare: one answer for a tree and its manifest.
struct Verification {
  enum class Status { ok, differs, untrusted, malformed };
  Status status = Status::malformed;
  std::string reason;  // for untrusted and malformed
  std::optional<SignedManifest> manifest;  // when it parsed
  std::string signer;
  std::vector<Difference> differences;
  size_t entries_checked = 0;
};
std::string_view verification_status_name(Verification::Status status);  // "ok", "differs", ...
Verification verify_tree(const std::string& root, std::span<const uint8_t> manifest_bytes, const ima::Keyring& keyring,
                         const BatchRunner& run_batch = nullptr);

// SPDX 2.3 JSON: one package (the image) with a file for each regular file (and hard link),
// each with its SHA-1 and SHA-256 (SHA-1 is mandatory in SPDX 2.3; SM3, which SPDX does not
// list, goes into the file's comment). `extra` are the scan's SHA-1 and SHA-256, in that order.
struct SbomInfo {
  std::string name;            // the package: the image's name
  std::string namespace_hint;  // hex, makes documentNamespace unique (the manifest's digest)
  std::string created;         // ISO 8601 UTC
  std::string tool;            // "vigil-<version>"
};
Result<std::string> spdx_json(const ScannedTree& tree, const SbomInfo& info);

// The percent-escaping of paths and symlink targets in the manifest (exposed for tests).
std::string escape_path(std::string_view raw);

}  // namespace vigil::image

namespace vigil::image {

// The OCI runtime hook (`vigil oci-hook`, docs/image.md): what the runtime hands a hook on stdin
// and where the container's root filesystem and manifest are.
inline constexpr std::string_view kManifestAnnotation = "io.vigil.image.manifest";  // absolute path
inline constexpr std::string_view kImageNameAnnotation = "io.vigil.image.name";     // NAME.manifest in the directory

struct HookState {
  std::string id;
  std::string bundle;
  std::vector<std::pair<std::string, std::string>> annotations;
};
// The OCI state JSON (runtime-spec runtime.md): id and bundle required, annotations optional.
Result<HookState> parse_hook_state(std::span<const uint8_t> bytes);

struct HookTarget {
  std::string rootfs;    // the bundle's root.path, made absolute
  std::string manifest;  // the manifest file to check it against
  std::string found_by;  // "annotation io.vigil.image.manifest", ...
};
// Reads BUNDLE/config.json for the rootfs and annotations (the state's win) and picks the
// manifest: the io.vigil.image.manifest annotation (an absolute path); else, with a manifest
// directory, DIR/NAME.manifest for io.vigil.image.name or DIR/ID.manifest. Nothing found is
// an error: the hook fails closed.
Result<HookTarget> locate_hook_target(const HookState& state, const std::string& manifest_dir);

}  // namespace vigil::image

namespace vigil::image {

// Measurement (docs/image.md): a verified container's image in the agent's measurement list.
// The entry is template ima-ng with d-ng = sha256:<manifest file digest> and n-ng =
// "oci-image:<container id>", in the agent's measurement PCR.
inline constexpr std::string_view kImageMeasurementPrefix = "oci-image:";

struct ImageMeasurement {
  std::string container;    // the OCI container id
  crypto::Digest manifest;  // SHA-256 of the manifest file
};

// The request the hook sends: {"container": "ID", "manifest_digest": "sha256:HEX"} and a newline.
std::string image_measurement_request(const ImageMeasurement& measurement);
// Reads one (from the socket: only root or the agent's user may send, still checked in full):
// an id of 1..256 bytes without spaces or control characters, a SHA-256 digest.
Result<ImageMeasurement> parse_image_measurement(std::string_view line);
ima::MeasurementEntry image_measurement_entry(const ImageMeasurement& measurement, std::uint32_t pcr);
// The hook's side of the agent's image socket: one request, the agent's answer awaited.
Result<void> send_image_measurement(const std::string& socket_path, const ImageMeasurement& measurement,
                                    int timeout_seconds = 10);

}  // namespace vigil::image
