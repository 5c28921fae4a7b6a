#include "attest/json_text.h"

namespace vigil::attest::json_text {
namespace {

// Only here to learn where a document the DOM parser refused goes wrong: every event is
// accepted, the first error is recorded and stops the parse (no exception is thrown).
struct ErrorLocator : nlohmann::json_sax<nlohmann::json> {
  size_t position = 0;
  std::string message;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t at, const std::string&, const nlohmann::detail::exception& error) override {
    position = at;
    message = error.what();
    return false;
  }
};

std::string type_error(std::string_view what, std::string_view name, const char* expected,
                       const nlohmann::json& value) {
  return std::string(what) + ": \"" + std::string(name) + "\" must be " + expected + ", not " + value.type_name();
}

}  // namespace

Result<nlohmann::json> parse(std::string_view text, std::string_view what) {
  nlohmann::json document = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!document.is_discarded()) return document;
  ErrorLocator locator;
  nlohmann::json::sax_parse(text.begin(), text.end(), &locator, nlohmann::json::input_format_t::json,
                            /*strict=*/true);
  // nlohmann counts the offending character as read: the error is at the byte before.
  const size_t at = locator.position > 0 ? locator.position - 1 : 0;
  std::string message = locator.message;
  if (const size_t cut = message.find("syntax error"); cut != std::string::npos) message = message.substr(cut);
  // "; last read: '...'" quotes the input itself: untrusted bytes stay out of messages.
  if (const size_t cut = message.find("; last read"); cut != std::string::npos) message.resize(cut);
  return fail(std::string(what) + ": JSON syntax error at byte " + std::to_string(at) +
              (message.empty() ? std::string() : ": " + message));
}

Result<const nlohmann::json*> field(const nlohmann::json& object, std::string_view name, std::string_view what) {
  if (!object.is_object()) return fail(std::string(what) + ": must be a JSON object, not " + object.type_name());
  const auto found = object.find(name);
  if (found == object.end()) return fail(std::string(what) + ": \"" + std::string(name) + "\" is missing");
  return &*found;
}

Result<std::string> string_field(const nlohmann::json& object, std::string_view name, std::string_view what) {
  auto value = field(object, name, what);
  if (!value) return std::unexpected(value.error());
  if (!(*value)->is_string()) return fail(type_error(what, name, "a string", **value));
  return (*value)->get_ref<const std::string&>();
}

Result<uint64_t> unsigned_field(const nlohmann::json& object, std::string_view name, std::string_view what,
                                uint64_t max_value) {
  auto value = field(object, name, what);
  if (!value) return std::unexpected(value.error());
  if (!(*value)->is_number_unsigned()) {
    if ((*value)->is_number_integer() && !(*value)->is_number_unsigned()) {
      return fail(std::string(what) + ": \"" + std::string(name) + "\" must not be negative");
    }
    return fail(type_error(what, name, "an unsigned integer", **value));
  }
  const uint64_t number = (*value)->get<uint64_t>();
  if (number > max_value) {
    return fail(std::string(what) + ": \"" + std::string(name) + "\" is " + std::to_string(number) +
                ", more than " + std::to_string(max_value));
  }
  return number;
}

}  // namespace vigil::attest::json_text
