// Records a root filesystem as manifest entries. The walk is common/tree_walk's: directories
// entered through their parent and checked, files opened beneath the root with no symlink on
// the way and checked to be the inode listed, so a tree changed while it is scanned can make
// the scan fail but never make it read something outside the tree.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>

#include <openssl/evp.h>

#include "common/tree_walk.h"
#include "image/image.h"

namespace vigil::image {
namespace {

std::optional<EntryType> type_of(mode_t mode) {
  if (S_ISDIR(mode)) return EntryType::directory;
  if (S_ISREG(mode)) return EntryType::file;
  if (S_ISLNK(mode)) return EntryType::symlink;
  if (S_ISCHR(mode)) return EntryType::char_device;
  if (S_ISBLK(mode)) return EntryType::block_device;
  if (S_ISFIFO(mode)) return EntryType::fifo;
  if (S_ISSOCK(mode)) return EntryType::socket;
  return std::nullopt;
}

// The root first, then bytewise: the manifest's order.
bool path_before(const std::string& a, const std::string& b) {
  if (a == ".") return b != ".";
  if (b == ".") return false;
  return a < b;
}

struct MdContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

// Every digest of one file in one read: the manifest's algorithm first, then the extras.
Result<std::vector<crypto::Digest>> digests_of_fd(int fd, const std::vector<crypto::HashAlgo>& algos) {
  // One set of contexts per thread, reused file after file (a tree is mostly small files).
  static thread_local std::vector<std::unique_ptr<EVP_MD_CTX, MdContextFree>> contexts;
  while (contexts.size() < algos.size()) contexts.emplace_back(EVP_MD_CTX_new());
  for (size_t i = 0; i < algos.size(); ++i) {
    const EVP_MD* md = crypto::hash_md(algos[i]);
    if (md == nullptr) return fail(std::string(crypto::hash_name(algos[i])) + " is not available in OpenSSL");
    if (!contexts[i] || EVP_DigestInit_ex(contexts[i].get(), md, nullptr) != 1) return fail("cannot hash");
  }
  constexpr size_t kBufferSize = 256 * 1024;
  static thread_local std::unique_ptr<uint8_t[]> buffer(new uint8_t[kBufferSize]);
  for (;;) {
    const ssize_t got = ::read(fd, buffer.get(), kBufferSize);
    if (got < 0) {
      if (errno == EINTR) continue;
      return fail_errno("cannot read");
    }
    if (got == 0) break;
    for (size_t i = 0; i < algos.size(); ++i) EVP_DigestUpdate(contexts[i].get(), buffer.get(), static_cast<size_t>(got));
  }
  std::vector<crypto::Digest> digests;
  for (size_t i = 0; i < algos.size(); ++i) {
    crypto::Digest digest;
    digest.algo = algos[i];
    unsigned size = 0;
    if (EVP_DigestFinal_ex(contexts[i].get(), digest.bytes.data(), &size) != 1) return fail("cannot hash");
    digest.size = static_cast<uint8_t>(size);
    digests.push_back(digest);
  }
  return digests;
}

Result<std::vector<uint8_t>> capability_of_fd(int fd) {
  std::vector<uint8_t> value(256);
  const ssize_t size = ::fgetxattr(fd, "security.capability", value.data(), value.size());
  if (size < 0) {
    if (errno == ENODATA || errno == ENOTSUP) return std::vector<uint8_t>{};
    return fail_errno("cannot read security.capability");
  }
  value.resize(static_cast<size_t>(size));
  return value;
}

}  // namespace

Result<ScannedTree> scan_tree(const std::string& root, const ScanOptions& options) {
  struct stat root_st {};
  if (::stat(root.c_str(), &root_st) != 0) return fail_errno(root);
  if (!S_ISDIR(root_st.st_mode)) return fail(root + ": not a directory");

  WalkOptions walk_options;
  walk_options.recursive = true;
  walk_options.every_entry = true;
  WalkResult walk = collect_files({root}, walk_options);

  ScannedTree tree;
  tree.manifest.hash = options.hash;
  for (const auto& issue : walk.issues) {
    std::string relative = issue.path;
    if (relative.starts_with(root)) relative.erase(0, root.size());
    while (relative.starts_with('/')) relative.erase(0, 1);
    tree.problems.push_back({relative.empty() ? "." : relative, issue.reason});
  }
  if (walk.entries.empty()) {
    if (!tree.problems.empty()) return fail(root + ": " + tree.problems.front().reason);
    return fail(root + ": cannot walk");
  }

  std::unordered_map<std::string, size_t> file_index;  // relative -> walk.files
  for (size_t i = 0; i < walk.files.size(); ++i) file_index.emplace(walk.files[i].relative, i);

  std::sort(walk.entries.begin(), walk.entries.end(), [](const WalkedEntry& a, const WalkedEntry& b) {
    return path_before(a.relative.empty() ? "." : a.relative, b.relative.empty() ? "." : b.relative);
  });
  auto& entries = tree.manifest.entries;
  entries.reserve(walk.entries.size());
  // Regular files sharing an inode: the first path (in manifest order) is the file, the others
  // hard links to it.
  std::map<std::pair<dev_t, ino_t>, size_t> first_of_inode;
  std::map<size_t, uint64_t> paths_of_inode;  // first entry -> paths in the tree
  std::vector<std::pair<size_t, size_t>> to_hash;  // entry index, walk.files index
  for (const WalkedEntry& walked : walk.entries) {
    const auto type = type_of(walked.st.st_mode);
    if (!type) {
      tree.problems.push_back({walked.relative, "unknown file type"});
      continue;
    }
    Entry entry;
    entry.path = walked.relative.empty() ? "." : walked.relative;
    entry.type = *type;
    entry.mode = walked.st.st_mode & 07777;
    entry.uid = walked.st.st_uid;
    entry.gid = walked.st.st_gid;
    entry.other_filesystem = walked.other_filesystem;
    if (*type == EntryType::file) {
      entry.size = static_cast<uint64_t>(walked.st.st_size);
      if (walked.st.st_nlink > 1) {
        const auto [it, first] = first_of_inode.emplace(std::make_pair(walked.st.st_dev, walked.st.st_ino), entries.size());
        if (!first) {
          Entry link;
          link.path = entry.path;
          link.type = EntryType::hard_link;
          link.target = entries[it->second].path;
          ++paths_of_inode[it->second];
          entries.push_back(std::move(link));
          continue;
        }
        paths_of_inode[entries.size()] = 1;
        entry.outside_links = walked.st.st_nlink;  // less the paths found, below
      }
      const auto found = file_index.find(walked.relative);
      if (found == file_index.end()) {
        tree.problems.push_back({entry.path, "listed but not walked"});
        continue;
      }
      to_hash.emplace_back(entries.size(), found->second);
    } else if (*type == EntryType::symlink) {
      entry.target = walked.symlink_target;
    } else if (*type == EntryType::char_device || *type == EntryType::block_device) {
      entry.major = ::major(walked.st.st_rdev);
      entry.minor = ::minor(walked.st.st_rdev);
    }
    entries.push_back(std::move(entry));
  }
  for (const auto& [index, paths] : paths_of_inode) {
    entries[index].outside_links = entries[index].outside_links > paths ? entries[index].outside_links - paths : 0;
  }

  std::vector<crypto::HashAlgo> algos{options.hash};
  algos.insert(algos.end(), options.extra_hashes.begin(), options.extra_hashes.end());
  tree.extra_digests.assign(entries.size(), {});
  std::vector<std::optional<std::string>> errors(to_hash.size());
  auto hash_one = [&](size_t i) {
    const auto [entry_index, walked_index] = to_hash[i];
    Entry& entry = entries[entry_index];
    auto fd = open_walked_file(walk.files[walked_index]);
    if (!fd) {
      errors[i] = fd.error().message;
      return;
    }
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0) {
      errors[i] = std::string("cannot stat: ") + std::strerror(errno);
      return;
    }
    entry.size = static_cast<uint64_t>(st.st_size);
    auto digests = digests_of_fd(fd->get(), algos);
    if (!digests) {
      errors[i] = digests.error().message;
      return;
    }
    entry.digest = digests->front();
    tree.extra_digests[entry_index].assign(digests->begin() + 1, digests->end());
    auto capability = capability_of_fd(fd->get());
    if (!capability) {
      errors[i] = capability.error().message;
      return;
    }
    entry.capability = std::move(*capability);
  };
  if (options.run_batch) {
    options.run_batch(to_hash.size(), hash_one);
  } else {
    for (size_t i = 0; i < to_hash.size(); ++i) hash_one(i);
  }
  for (size_t i = 0; i < to_hash.size(); ++i) {
    if (errors[i]) tree.problems.push_back({entries[to_hash[i].first].path, *errors[i]});
  }
  std::sort(tree.problems.begin(), tree.problems.end(),
            [](const ScanProblem& a, const ScanProblem& b) { return path_before(a.path, b.path); });
  return tree;
}

}  // namespace vigil::image
