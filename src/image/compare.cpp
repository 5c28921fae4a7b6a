// Manifest against scan, entry by entry: every path in one and not the other, and for a path
// in both every field that differs, each reported (not just the first).
#include <sys/stat.h>

#include <map>
#include <set>
#include <unordered_map>

#include "common/hex_text.h"
#include "image/image.h"

namespace vigil::image {
namespace {

std::string octal(uint32_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 07777);
  return text;
}

std::string describe_type(const Entry& entry) {
  return entry.type == EntryType::hard_link ? "hard link to " + escape_path(entry.target)
                                            : std::string(entry_type_name(entry.type));
}

class Comparer {
 public:
  Comparer(const Manifest& expected, const ScannedTree& actual) : expected_(expected), actual_(actual) {
    for (const Entry& entry : expected.entries) expected_by_path_.emplace(entry.path, &entry);
    for (const Entry& entry : actual.manifest.entries) actual_by_path_.emplace(entry.path, &entry);
    for (const ScanProblem& problem : actual.problems) unreadable_.insert(problem.path);
  }

  std::vector<Difference> run() {
    for (const ScanProblem& problem : actual_.problems) {
      add(Difference::Kind::unreadable, problem.path, problem.reason);
    }
    for (const Entry& entry : expected_.entries) {
      if (unreadable_.contains(entry.path)) continue;
      const auto found = actual_by_path_.find(entry.path);
      if (found == actual_by_path_.end()) {
        add(Difference::Kind::removed, entry.path, describe_type(entry));
      } else {
        compare_entry(entry, *found->second);
      }
    }
    for (const Entry& entry : actual_.manifest.entries) {
      if (unreadable_.contains(entry.path)) continue;
      if (!expected_by_path_.contains(entry.path)) {
        std::string detail = describe_type(entry);
        if (entry.type == EntryType::symlink) detail += " -> " + escape_path(entry.target);
        if (entry.type == EntryType::char_device || entry.type == EntryType::block_device) {
          detail += " " + std::to_string(entry.major) + ":" + std::to_string(entry.minor);
        }
        add(Difference::Kind::added, entry.path, detail);
      }
      if (entry.other_filesystem) {
        add(Difference::Kind::metadata, entry.path, "another filesystem is mounted here (not entered)");
      }
    }
    std::stable_sort(differences_.begin(), differences_.end(), [](const Difference& a, const Difference& b) {
      if (a.path == ".") return b.path != ".";
      if (b.path == ".") return false;
      return a.path < b.path;
    });
    return std::move(differences_);
  }

 private:
  // A hard link's file entry (for its content and metadata); the entry itself otherwise.
  static const Entry& resolve(const Entry& entry, const std::unordered_map<std::string, const Entry*>& by_path) {
    if (entry.type != EntryType::hard_link) return entry;
    const auto found = by_path.find(entry.target);
    return found == by_path.end() ? entry : *found->second;
  }

  void compare_entry(const Entry& expected_entry, const Entry& actual_entry) {
    const std::string& path = expected_entry.path;
    // Hard links: which file a path is (the same inode as which other path) is checked on its
    // own, then the content and metadata of the file behind it.
    const bool expected_link = expected_entry.type == EntryType::hard_link;
    const bool actual_link = actual_entry.type == EntryType::hard_link;
    if (expected_link || actual_link) {
      if (expected_link != actual_link || expected_entry.target != actual_entry.target) {
        add(Difference::Kind::metadata, path,
            "hard links: " + link_text(expected_entry) + " -> " + link_text(actual_entry));
      }
    }
    const Entry& expected = resolve(expected_entry, expected_by_path_);
    const Entry& actual = resolve(actual_entry, actual_by_path_);
    if (expected.type == EntryType::hard_link || actual.type == EntryType::hard_link) return;  // unresolvable
    if (expected.type != actual.type) {
      add(Difference::Kind::metadata, path,
          "type " + std::string(entry_type_name(expected.type)) + " -> " + std::string(entry_type_name(actual.type)));
      return;
    }
    // A link's file is compared under the file's own path; a link whose file differs in
    // content or metadata is reported there, once.
    if (expected_link && actual_link) return;
    if (expected.mode != actual.mode) {
      add(Difference::Kind::metadata, path, "mode " + octal(expected.mode) + " -> " + octal(actual.mode));
    }
    if (expected.uid != actual.uid || expected.gid != actual.gid) {
      add(Difference::Kind::metadata, path,
          "owner " + std::to_string(expected.uid) + ":" + std::to_string(expected.gid) + " -> " +
              std::to_string(actual.uid) + ":" + std::to_string(actual.gid));
    }
    switch (expected.type) {
      case EntryType::file:
        if (expected.size != actual.size || !(expected.digest == actual.digest)) {
          std::string detail = "content " + std::string(crypto::hash_name(expected.digest.algo)) + ":" +
                               expected.digest.hex() + " -> " + actual.digest.hex();
          if (expected.size != actual.size) {
            detail += " (size " + std::to_string(expected.size) + " -> " + std::to_string(actual.size) + ")";
          }
          add(Difference::Kind::content, path, detail);
        }
        if (expected.capability != actual.capability) {
          add(Difference::Kind::metadata, path,
              "file capabilities " + capability_text(expected.capability) + " -> " +
                  capability_text(actual.capability));
        }
        if (actual.outside_links > 0 && &actual == &actual_entry) {
          add(Difference::Kind::metadata, path,
              "hard-linked from outside the root filesystem (" + std::to_string(actual.outside_links) +
                  " link(s) not in the tree)");
        }
        break;
      case EntryType::symlink:
        if (expected.target != actual.target) {
          add(Difference::Kind::metadata, path,
              "symlink target " + escape_path(expected.target) + " -> " + escape_path(actual.target));
        }
        break;
      case EntryType::char_device:
      case EntryType::block_device:
        if (expected.major != actual.major || expected.minor != actual.minor) {
          add(Difference::Kind::metadata, path,
              "device " + std::to_string(expected.major) + ":" + std::to_string(expected.minor) + " -> " +
                  std::to_string(actual.major) + ":" + std::to_string(actual.minor));
        }
        break;
      default:
        break;
    }
  }

  static std::string link_text(const Entry& entry) {
    return entry.type == EntryType::hard_link ? "same file as " + escape_path(entry.target) : "a file of its own";
  }
  static std::string capability_text(const std::vector<uint8_t>& capability) {
    return capability.empty() ? "none" : hex_text(capability);
  }

  void add(Difference::Kind kind, const std::string& path, std::string detail) {
    differences_.push_back(Difference{kind, path, std::move(detail)});
  }

  const Manifest& expected_;
  const ScannedTree& actual_;
  std::unordered_map<std::string, const Entry*> expected_by_path_;
  std::unordered_map<std::string, const Entry*> actual_by_path_;
  std::set<std::string> unreadable_;
  std::vector<Difference> differences_;
};

}  // namespace

std::string_view difference_kind_name(Difference::Kind kind) {
  switch (kind) {
    case Difference::Kind::added: return "added";
    case Difference::Kind::removed: return "removed";
    case Difference::Kind::content: return "content";
    case Difference::Kind::metadata: return "metadata";
    case Difference::Kind::unreadable: return "unreadable";
  }
  return "unknown";
}

std::vector<Difference> compare(const Manifest& expected, const ScannedTree& actual) {
  return Comparer(expected, actual).run();
}

}  // namespace vigil::image
