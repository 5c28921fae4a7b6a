#pragma once
// What a field yields for one event: up to kMaxValues values (proc.aname without an index
// yields every ancestor; most fields one, or none when missing). Strings are views into the
// event, the process table or the extractor's per-field scratch: no allocation per event.
#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>
#include <type_traits>

namespace vigil::rules {

struct IpAddress {
  std::uint8_t family = 0;  // 4 or 6; 0: none
  std::array<std::uint8_t, 16> bytes{};  // IPv4: the first 4
  bool operator==(const IpAddress&) const = default;
};

// An address with a prefix length (a network); prefix == 32/128 for one address.
struct IpNetwork {
  IpAddress address;
  int prefix = 0;
  bool contains(const IpAddress& ip) const;
};
// "10.0.0.1", "::1", "10.0.0.0/8"; false when not an address.
bool parse_ip_network(std::string_view text, IpNetwork& out);

struct Value {
  enum class Kind : std::uint8_t { integer, string, boolean, ip };
  Kind kind = Kind::string;
  std::int64_t integer = 0;  // integer; boolean as 0/1
  std::string_view text;     // string
  IpAddress ip;              // ip
};

inline constexpr std::size_t kMaxValues = 64;

// A fixed-capacity list of values on the stack. The storage is left uninitialized (one is made
// per check evaluated: initializing 64 values each time would cost more than the check).
class Values {
 public:
  Values() noexcept {}
  std::size_t count = 0;
  const Value& operator[](std::size_t index) const { return data()[index]; }
  void clear() { count = 0; }
  void add_integer(std::int64_t value) { add(Value{Value::Kind::integer, value, {}, {}}); }
  void add_bool(bool value) { add(Value{Value::Kind::boolean, value ? 1 : 0, {}, {}}); }
  void add_text(std::string_view value) { add(Value{Value::Kind::string, 0, value, {}}); }
  void add_ip(const IpAddress& value) { add(Value{Value::Kind::ip, 0, {}, value}); }

 private:
  static_assert(std::is_trivially_copyable_v<Value> && std::is_trivially_destructible_v<Value>);
  void add(const Value& value) {
    if (count == kMaxValues) return;
    new (storage_ + count * sizeof(Value)) Value(value);
    ++count;
  }
  const Value* data() const { return std::launder(reinterpret_cast<const Value*>(storage_)); }
  alignas(Value) unsigned char storage_[sizeof(Value) * kMaxValues];
};

}  // namespace vigil::rules
