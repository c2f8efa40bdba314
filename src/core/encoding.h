#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace clustertls::core {

// Lower-case hex without separators, e.g. "0a1b".
std::string Hex(std::span<const std::uint8_t> bytes);

// Upper-case hex with ':' between bytes, e.g. "0A:1B" (the form `openssl x509 -fingerprint`
// prints).
std::string ColonHex(std::span<const std::uint8_t> bytes);

// The value of one hex digit ('0'-'9', 'a'-'f', 'A'-'F'), or -1 for any other character.
int HexDigitValue(char c);

// Bytes of a string, for APIs that take std::span<const uint8_t>.
inline std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Lower-cases ASCII letters only.
std::string AsciiLower(std::string_view s);

// Escapes a string for inclusion in a JSON string literal (without the quotes).
std::string JsonEscape(std::string_view s);

// The value (0-63) of a character of the standard base64 alphabet (RFC 4648 section 4), or -1.
int Base64Value(char c);

// Encodes standard base64 with padding (RFC 4648 section 4), on one line.
std::string Base64Encode(std::string_view in);

// Decodes standard base64 (RFC 4648 section 4): padding optional, but at most two '=' and only
// where they complete the last quantum; nothing but the alphabet. nullopt for anything else.
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace clustertls::core
