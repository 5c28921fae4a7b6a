#include "state/dns_names.h"

#include <algorithm>
#include <vector>

namespace vigil::state {
namespace {

constexpr std::size_t kHeaderBytes = 12;
constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeAAAA = 28;
constexpr std::uint16_t kClassIn = 1;
constexpr int kMaxPointerHops = 16;

std::uint16_t u16_at(std::span<const std::uint8_t> bytes, std::size_t offset) {
  return static_cast<std::uint16_t>(bytes[offset] << 8 | bytes[offset + 1]);
}

// Reads the (possibly compressed) name at offset into `name`; `next` is the offset after the
// name as it is written there. False on anything malformed or too long.
bool read_name(std::span<const std::uint8_t> message, std::size_t offset, std::string* name, std::size_t& next) {
  bool jumped = false;
  int hops = 0;
  for (;;) {
    if (offset >= message.size()) return false;
    const std::uint8_t length = message[offset];
    if ((length & 0xc0) == 0xc0) {  // compression pointer
      if (offset + 1 >= message.size() || ++hops > kMaxPointerHops) return false;
      const std::size_t target = static_cast<std::size_t>(length & 0x3f) << 8 | message[offset + 1];
      if (!jumped) next = offset + 2;
      jumped = true;
      if (target >= offset) return false;  // pointers go backwards: no loops
      offset = target;
      continue;
    }
    if ((length & 0xc0) != 0) return false;  // reserved label types
    if (length == 0) {
      if (!jumped) next = offset + 1;
      return true;
    }
    if (offset + 1 + length > message.size()) return false;
    if (name != nullptr) {
      if (!name->empty()) name->push_back('.');
      for (std::size_t i = 0; i < length; ++i) {
        const auto c = static_cast<char>(message[offset + 1 + i]);
        name->push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
      }
      if (name->size() > kMaxDnsNameLength) return false;
    }
    offset += 1 + length;
  }
}

}  // namespace

std::size_t DnsAddressHash::operator()(const DnsAddress& address) const noexcept {
  std::size_t hash = address.family;
  for (std::uint8_t byte : address.bytes) hash = hash * 131 + byte;
  return hash;
}

std::size_t DnsNames::learn_response(std::span<const std::uint8_t> message) {
  if (message.size() < kHeaderBytes) return 0;
  const std::uint16_t flags = u16_at(message, 2);
  if ((flags & 0x8000) == 0 || (flags & 0x000f) != 0) return 0;  // not a response, or an error
  const std::uint16_t questions = u16_at(message, 4);
  const std::uint16_t answers = u16_at(message, 6);
  if (questions != 1 || answers == 0) return 0;
  std::string question;
  std::size_t offset = kHeaderBytes;
  if (!read_name(message, offset, &question, offset) || question.empty()) return 0;
  offset += 4;  // QTYPE, QCLASS
  std::size_t learnt = 0;
  for (std::uint16_t i = 0; i < answers; ++i) {
    if (!read_name(message, offset, nullptr, offset)) break;
    if (offset + 10 > message.size()) break;
    const std::uint16_t type = u16_at(message, offset);
    const std::uint16_t klass = u16_at(message, offset + 2);
    const std::uint16_t length = u16_at(message, offset + 8);
    offset += 10;
    if (offset + length > message.size()) break;  // cut short: the rest is not there
    DnsAddress address;
    if (klass == kClassIn && type == kTypeA && length == 4) {
      address.family = 4;
    } else if (klass == kClassIn && type == kTypeAAAA && length == 16) {
      address.family = 6;
    }
    if (address.family != 0) {
      std::copy_n(message.begin() + static_cast<std::ptrdiff_t>(offset), length, address.bytes.begin());
      if (names_.size() >= kMaxDnsNames && !names_.contains(address)) {
        // Forget the older half: lookups repeat, so what is still used comes back.
        std::vector<std::uint64_t> ages;
        ages.reserve(names_.size());
        for (const auto& [key, entry] : names_) ages.push_back(entry.sequence);
        std::nth_element(ages.begin(), ages.begin() + static_cast<std::ptrdiff_t>(ages.size() / 2), ages.end());
        const std::uint64_t median = ages[ages.size() / 2];
        std::erase_if(names_, [&](const auto& item) { return item.second.sequence < median; });
      }
      Entry& entry = names_[address];
      entry.name = question;
      entry.sequence = ++sequence_;
      ++learnt;
    }
    offset += length;
  }
  return learnt;
}

std::string_view DnsNames::name_of(const DnsAddress& address) const {
  const auto it = names_.find(address);
  return it == names_.end() ? std::string_view{} : std::string_view(it->second.name);
}

}  // namespace vigil::state
