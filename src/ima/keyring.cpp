#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <dirent.h>

#include "ima/ima.h"

namespace vigil::ima {
namespace {

bool has_key_extension(std::string_view name) {
  for (std::string_view ext : {".der", ".crt", ".cer", ".pem", ".x509"}) {
    if (name.size() > ext.size() && name.ends_with(ext)) return true;
  }
  return false;
}

}  // namespace

void Keyring::add(uint32_t keyid, const crypto::Key& key, const std::string& source) {
  for (const auto& entry : entries_) {
    if (entry.keyid == keyid && entry.key.same_public_key(key)) return;
  }
  entries_.push_back(Entry{keyid, key, source});
}

void Keyring::add_certificate(const crypto::Certificate& cert, const std::string& source) {
  auto key = cert.public_key();
  if (!key) return;
  // The kernel looks the key up by its SKID; evmctl by the public-key hash. Usually the two
  // agree; when a CA chose another SKID method, both ids must find the key.
  if (auto id = keyid_from_subject_key_id(cert)) add(*id, *key, source);
  if (auto id = keyid_from_public_key(*key)) add(*id, *key, source);
}

void Keyring::add_public_key(const crypto::Key& key, const std::string& source) {
  if (auto id = keyid_from_public_key(key)) add(*id, key, source);
}

Result<void> Keyring::load_file(const std::string& path) {
  auto cert = crypto::Certificate::load(path);
  if (cert) {
    if (!cert->public_key()) return fail(path + ": certificate key is not usable");
    add_certificate(*cert, path);
    return {};
  }
  auto key = crypto::Key::load_public(path);
  if (key) {
    add_public_key(*key, path);
    return {};
  }
  if (cert.error().sys_errno != 0) return std::unexpected(cert.error());
  return fail(path + ": neither an X.509 certificate nor a public key (PEM or DER)");
}

Result<std::vector<std::string>> Keyring::load_directory(const std::string& dir) {
  DIR* stream = ::opendir(dir.c_str());
  if (stream == nullptr) return fail_errno(dir);
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(stream)) {
    if (has_key_extension(entry->d_name)) names.emplace_back(entry->d_name);
  }
  ::closedir(stream);
  std::sort(names.begin(), names.end());
  std::vector<std::string> warnings;
  const size_t before = entries_.size();
  for (const auto& name : names) {
    const std::string path = dir + (dir.ends_with('/') ? "" : "/") + name;
    if (auto loaded = load_file(path); !loaded) warnings.push_back(loaded.error().message);
  }
  if (entries_.size() == before) {
    return fail(dir + ": no certificates or public keys found (looked for *.der, *.crt, *.cer, *.pem, *.x509)");
  }
  return warnings;
}

std::vector<const Keyring::Entry*> Keyring::find(uint32_t keyid) const {
  std::vector<const Entry*> found;
  for (const auto& entry : entries_) {
    if (entry.keyid == keyid) found.push_back(&entry);
  }
  return found;
}

}  // namespace vigil::ima
