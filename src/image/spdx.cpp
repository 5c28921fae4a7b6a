// The SBOM beside a manifest: SPDX 2.3 JSON that SBOM tools read. SPDX 2.3 requires a SHA-1
// checksum for every file and lists no SM3, so each file carries SHA-1 and SHA-256, and an SM3
// manifest's digest goes into the file's comment.
#include <algorithm>
#include <cctype>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "image/image.h"

namespace vigil::image {

Result<std::string> spdx_json(const ScannedTree& tree, const SbomInfo& info) {
  const auto& entries = tree.manifest.entries;
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json file_ids = nlohmann::json::array();
  std::vector<std::string> sha1s;
  std::unordered_map<std::string, size_t> index_of_path;
  for (size_t i = 0; i < entries.size(); ++i) index_of_path.emplace(entries[i].path, i);
  size_t number = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    if (entry.type != EntryType::file && entry.type != EntryType::hard_link) continue;
    // A hard link has its file's content and checksums.
    size_t content_index = i;
    if (entry.type == EntryType::hard_link) {
      const auto found = index_of_path.find(entry.target);
      if (found == index_of_path.end()) return fail("SBOM: hard link " + entry.path + " has no file");
      content_index = found->second;
    }
    const auto& extra = tree.extra_digests.at(content_index);
    if (extra.size() < 2 || extra[0].algo != crypto::HashAlgo::sha1 || extra[1].algo != crypto::HashAlgo::sha256) {
      return fail("SBOM: " + entry.path + ": the scan did not compute SHA-1 and SHA-256");
    }
    const std::string id = "SPDXRef-File-" + std::to_string(++number);
    nlohmann::json file = {
        {"SPDXID", id},
        {"fileName", "./" + entry.path},
        {"checksums",
         nlohmann::json::array({{{"algorithm", "SHA1"}, {"checksumValue", extra[0].hex()}},
                                {{"algorithm", "SHA256"}, {"checksumValue", extra[1].hex()}}})},
        {"licenseConcluded", "NOASSERTION"},
        {"copyrightText", "NOASSERTION"},
    };
    const Entry& content = entries[content_index];
    if (content.digest.algo == crypto::HashAlgo::sm3) file["comment"] = "SM3: " + content.digest.hex();
    files.push_back(std::move(file));
    file_ids.push_back(id);
    sha1s.push_back(extra[0].hex());
  }
  // Package verification code (SPDX 2.3 clause 7.9): SHA-1 over the sorted SHA-1s of its files.
  std::sort(sha1s.begin(), sha1s.end());
  std::string joined;
  for (const auto& sha1 : sha1s) joined += sha1;
  crypto::Hasher hasher;
  auto code = hasher.of_bytes(crypto::HashAlgo::sha1, std::span(reinterpret_cast<const uint8_t*>(joined.data()), joined.size()));
  if (!code) return std::unexpected(code.error());

  const std::string package_id = "SPDXRef-Package-image";
  // documentNamespace is a URI: the name in it keeps only characters that need no escaping.
  std::string uri_name = info.name;
  for (char& c : uri_name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '-';
  }
  nlohmann::json document = {
      {"spdxVersion", "SPDX-2.3"},
      {"dataLicense", "CC0-1.0"},
      {"SPDXID", "SPDXRef-DOCUMENT"},
      {"name", info.name},
      {"documentNamespace", "https://vigil.invalid/spdx/image/" + uri_name + "-" + info.namespace_hint},
      {"creationInfo", {{"created", info.created}, {"creators", nlohmann::json::array({"Tool: " + info.tool})}}},
      {"documentDescribes", nlohmann::json::array({package_id})},
      {"packages",
       nlohmann::json::array({{
           {"SPDXID", package_id},
           {"name", info.name},
           {"downloadLocation", "NOASSERTION"},
           {"filesAnalyzed", true},
           {"packageVerificationCode", {{"packageVerificationCodeValue", code->hex()}}},
           {"licenseConcluded", "NOASSERTION"},
           {"licenseDeclared", "NOASSERTION"},
           {"copyrightText", "NOASSERTION"},
           {"primaryPackagePurpose", "CONTAINER"},
           {"hasFiles", file_ids},
       }})},
      {"files", files},
      {"relationships",
       nlohmann::json::array({{{"spdxElementId", "SPDXRef-DOCUMENT"},
                               {"relationshipType", "DESCRIBES"},
                               {"relatedSpdxElement", package_id}}})},
  };
  return document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace vigil::image
