#include "pki/names.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "core/encoding.h"

namespace clustertls::pki {

namespace {

using core::ErrorCode;
using core::Fail;

constexpr std::size_t kMaxLabel = 63;      // RFC 1035 2.3.4
constexpr std::size_t kMaxName = 253;      // RFC 1035 2.3.4 (255 octets on the wire)
constexpr std::size_t kMaxLocalPart = 64;  // RFC 5321 4.5.3.1.1
constexpr std::size_t kMaxEmail = 254;     // RFC 5321 4.5.3.1.3 path minus the brackets

core::Error BadDns(std::string_view name, std::string_view cause) {
  return Fail(ErrorCode::kInvalidName,
              "invalid DNS name " + QuoteName(name) + ": " + std::string(cause));
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool IsLdh(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

// Decodes UTF-8 into code points; false on malformed, over-long or surrogate sequences.
bool DecodeUtf8(std::string_view s, std::vector<char32_t>& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    std::size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      cp = c & 0x1f;
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      cp = c & 0x0f;
      len = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      cp = c & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    out.push_back(cp);
    i += len;
  }
  return true;
}

// RFC 3492 section 5: the Punycode parameters, shared by the encoder and the decoder.
constexpr std::uint32_t kBase = 36, kTMin = 1, kTMax = 26, kSkew = 38, kDamp = 700;
constexpr std::uint32_t kInitialBias = 72, kInitialN = 128;
constexpr std::uint32_t kMax = 0xffffffffu;

// RFC 3492 6.1: bias adaptation.
std::uint32_t PunycodeAdapt(std::uint32_t delta, std::uint32_t numpoints, bool first) {
  delta = first ? delta / kDamp : delta / 2;
  delta += delta / numpoints;
  std::uint32_t k = 0;
  while (delta > ((kBase - kTMin) * kTMax) / 2) {
    delta /= kBase - kTMin;
    k += kBase;
  }
  return k + (kBase - kTMin + 1) * delta / (delta + kSkew);
}

// RFC 3492 6.3: Punycode encoding of one label's code points (without the "xn--" prefix).
// Returns false on overflow.
bool PunycodeEncode(const std::vector<char32_t>& input, std::string& out) {
  auto digit = [](std::uint32_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + d - 26); };

  out.clear();
  for (char32_t c : input) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    }
  }
  const auto basic = static_cast<std::uint32_t>(out.size());
  std::uint32_t handled = basic;
  if (basic > 0) {
    out.push_back('-');
  }
  std::uint32_t n = kInitialN, delta = 0, bias = kInitialBias;
  const auto total = static_cast<std::uint32_t>(input.size());
  while (handled < total) {
    std::uint32_t m = kMax;
    for (char32_t c : input) {
      if (c >= n && c < m) {
        m = c;
      }
    }
    if (m - n > (kMax - delta) / (handled + 1)) {
      return false;
    }
    delta += (m - n) * (handled + 1);
    n = m;
    for (char32_t c : input) {
      if (c < n && ++delta == 0) {
        return false;
      }
      if (c == n) {
        std::uint32_t q = delta;
        for (std::uint32_t k = kBase;; k += kBase) {
          std::uint32_t t = k <= bias ? kTMin : (k >= bias + kTMax ? kTMax : k - bias);
          if (q < t) {
            break;
          }
          out.push_back(digit(t + (q - t) % (kBase - t)));
          q = (q - t) / (kBase - t);
        }
        out.push_back(digit(q));
        bias = PunycodeAdapt(delta, handled + 1, handled == basic);
        delta = 0;
        ++handled;
      }
    }
    ++delta;
    ++n;
  }
  return true;
}

// RFC 3492 6.2: decodes the Punycode of one label (the part after "xn--", ASCII). Returns
// false where the RFC's decoder fails: a character that is not a digit, a truncated
// variable-length integer, an overflow, or an inserted code point that is basic (< 0x80).
bool PunycodeDecode(std::string_view input, std::vector<char32_t>& out) {
  auto value = [](char c) -> std::uint32_t {
    if (c >= '0' && c <= '9') {
      return static_cast<std::uint32_t>(c - '0') + 26;
    }
    if (c >= 'a' && c <= 'z') {
      return static_cast<std::uint32_t>(c - 'a');
    }
    if (c >= 'A' && c <= 'Z') {
      return static_cast<std::uint32_t>(c - 'A');
    }
    return kBase;  // not a digit
  };

  out.clear();
  // The basic code points are those before the last delimiter, if there is one.
  std::size_t in = 0;
  if (std::size_t b = input.rfind('-'); b != std::string_view::npos) {
    for (std::size_t j = 0; j < b; ++j) {
      if (static_cast<unsigned char>(input[j]) >= 0x80) {
        return false;
      }
      out.push_back(static_cast<unsigned char>(input[j]));
    }
    in = b > 0 ? b + 1 : 0;
  }
  std::uint32_t n = kInitialN, i = 0, bias = kInitialBias;
  while (in < input.size()) {
    const std::uint32_t old_i = i;
    std::uint32_t w = 1;
    for (std::uint32_t k = kBase;; k += kBase) {
      if (in >= input.size()) {
        return false;
      }
      const std::uint32_t digit = value(input[in++]);
      if (digit >= kBase || digit > (kMax - i) / w) {
        return false;
      }
      i += digit * w;
      const std::uint32_t t = k <= bias ? kTMin : (k >= bias + kTMax ? kTMax : k - bias);
      if (digit < t) {
        break;
      }
      if (w > kMax / (kBase - t)) {
        return false;
      }
      w *= kBase - t;
    }
    const auto length = static_cast<std::uint32_t>(out.size()) + 1;
    bias = PunycodeAdapt(i - old_i, length, old_i == 0);
    if (i / length > kMax - n) {
      return false;
    }
    n += i / length;
    i %= length;
    if (n < 0x80) {
      return false;
    }
    out.insert(out.begin() + i, static_cast<char32_t>(n));
    ++i;
  }
  return true;
}

// What is wrong with the code points of a U-label (ASCII letters already lower-cased), or "" if
// nothing: the checks a non-ASCII label given as UTF-8 gets, and that the decoded form of an
// A-label must pass too.
std::string ULabelProblem(const std::vector<char32_t>& cps) {
  for (char32_t c : cps) {
    if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
      return "a code point that is not a Unicode scalar value";
    }
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
      return "a control character";
    }
    if (c == 0xa0 || c == 0x3000 || c == 0xfeff || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
        c == 0x2029) {
      return "a space character";
    }
  }
  // RFC 5891 section 4.2.3.1: no hyphen at the start or the end, none in both the third and
  // fourth positions (which also covers an "xn--" prefix).
  if (!cps.empty() && (cps.front() == '-' || cps.back() == '-')) {
    return "a '-' at its start or end";
  }
  if (cps.size() >= 4 && cps[2] == '-' && cps[3] == '-') {
    return "\"--\" in its third and fourth positions";
  }
  return {};
}

// RFC 5891 section 5.4 (and RFC 5890 2.3.2.1): an A-label ("xn--...", lower-cased) must decode
// as Punycode into a label holding at least one non-ASCII code point that a U-label may hold,
// and encoding that label again must give the same A-label. Returns the cause, or "".
std::string ALabelProblem(std::string_view alabel) {
  std::string_view puny = alabel.substr(4);
  if (puny.empty()) {
    return "nothing follows \"xn--\"";
  }
  std::vector<char32_t> cps;
  if (!PunycodeDecode(puny, cps)) {
    return "Punycode does not decode";
  }
  if (std::all_of(cps.begin(), cps.end(), [](char32_t c) { return c < 0x80; })) {
    return "it decodes to an all-ASCII label";
  }
  if (std::string problem = ULabelProblem(cps); !problem.empty()) {
    return "it decodes to " + problem;
  }
  std::string again;
  if (!PunycodeEncode(cps, again) || again != puny) {
    return "it is not the canonical encoding of its U-label";
  }
  return {};
}

// Parses an IP address into its raw bytes (4 or 16); false if it is not one.
bool ParseIp(std::string_view ip, std::string& bytes) {
  if (ip.empty() || ip.size() > INET6_ADDRSTRLEN || ip.find('\0') != std::string_view::npos) {
    return false;
  }
  std::string z(ip);
  unsigned char buf[16];
  if (inet_pton(AF_INET, z.c_str(), buf) == 1) {
    bytes.assign(reinterpret_cast<char*>(buf), 4);
    return true;
  }
  if (inet_pton(AF_INET6, z.c_str(), buf) == 1) {
    bytes.assign(reinterpret_cast<char*>(buf), 16);
    return true;
  }
  return false;
}

std::string IpText(const std::string& bytes) {
  char buf[INET6_ADDRSTRLEN];
  int af = bytes.size() == 4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes.data(), buf, sizeof buf) == nullptr) {
    return {};
  }
  return buf;
}

void AddUnique(std::vector<std::string>& list, std::string value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) {
    list.push_back(std::move(value));
  }
}

}  // namespace

std::string QuoteName(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : name) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (IsControl(c) || c >= 0x80) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

core::Result<std::string> CanonicalDnsName(std::string_view name, bool allow_wildcard) {
  if (name.empty()) {
    return BadDns(name, "is empty");
  }
  for (unsigned char c : name) {
    if (c == 0) {
      return BadDns(name, "contains a NUL byte");
    }
    if (IsControl(c)) {
      return BadDns(name, "contains a control character");
    }
  }
  if (name.size() > 4 * (kMaxName + 1)) {
    return BadDns(name, "is longer than 253 characters");
  }
  if (IsIpAddress(name)) {
    return BadDns(name, "is an IP address; give it as an IP address, not a DNS name");
  }
  std::string_view body = name;
  if (body.back() == '.') {
    body.remove_suffix(1);  // the root label: "example.com." is "example.com"
  }
  if (body.empty()) {
    return BadDns(name, "has no labels");
  }

  std::vector<std::string_view> labels;
  for (std::size_t start = 0;;) {
    std::size_t dot = body.find('.', start);
    labels.push_back(body.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }

  std::string out;
  out.reserve(body.size());
  std::vector<char32_t> cps;
  std::string puny;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::string_view label = labels[i];
    if (label.empty()) {
      return BadDns(name, "has an empty label");
    }
    if (label.find('*') != std::string_view::npos) {
      if (label != "*") {
        return BadDns(name, "a wildcard must be the whole left-most label (\"*.example.com\")");
      }
      if (i != 0) {
        return BadDns(name, "a wildcard is allowed only as the left-most label");
      }
      if (!allow_wildcard) {
        return BadDns(name, "a wildcard is not allowed here");
      }
      if (labels.size() < 3) {
        return BadDns(name, "a wildcard needs at least two labels after it (\"*.example.com\")");
      }
      out += "*.";
      continue;
    }
    std::string alabel;
    if (std::all_of(label.begin(), label.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
      alabel = core::AsciiLower(label);
    } else {
      if (!DecodeUtf8(label, cps)) {
        return BadDns(name, "is not valid UTF-8");
      }
      for (char32_t& c : cps) {
        if (c >= 'A' && c <= 'Z') {
          c = c - 'A' + 'a';
        }
      }
      if (std::string problem = ULabelProblem(cps); !problem.empty()) {
        return BadDns(name, "contains " + problem);
      }
      if (!PunycodeEncode(cps, puny)) {
        return BadDns(name, "cannot be encoded as an A-label");
      }
      alabel = "xn--" + puny;
    }
    if (alabel.size() > kMaxLabel) {
      return BadDns(name, "label \"" + alabel.substr(0, 20) + "...\" is longer than 63 characters");
    }
    for (char c : alabel) {
      if (!IsLdh(c)) {
        return BadDns(name, c == '_' ? "contains '_' (only letters, digits and '-' are allowed)"
                                     : "contains a character other than letters, digits, '-' "
                                       "and '.'");
      }
    }
    if (alabel.starts_with("xn--")) {
      if (std::string problem = ALabelProblem(alabel); !problem.empty()) {
        return BadDns(name, "\"" + alabel + "\" is not a valid A-label (" + problem + ")");
      }
    }
    if (alabel.front() == '-' || alabel.back() == '-') {
      return BadDns(name, "a label starts or ends with '-'");
    }
    if (i + 1 == labels.size() && labels.size() > 1 &&
        std::all_of(alabel.begin(), alabel.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return BadDns(name, "the top-level label is all digits");
    }
    out += alabel;
    out.push_back('.');
  }
  out.pop_back();
  if (out.size() > kMaxName) {
    return BadDns(name, "is longer than 253 characters (" + std::to_string(out.size()) + ")");
  }
  return out;
}

bool IsIpAddress(std::string_view text) {
  std::string bytes;
  return ParseIp(text, bytes);
}

core::Result<std::string> IpAddressBytes(std::string_view ip) {
  std::string bytes;
  if (!ParseIp(ip, bytes)) {
    return Fail(ErrorCode::kInvalidName,
                "invalid IP address " + QuoteName(ip) + ": not an IPv4 or IPv6 address");
  }
  return bytes;
}

core::Result<std::string> CanonicalIp(std::string_view ip) {
  CTLS_ASSIGN_OR_RETURN(std::string bytes, IpAddressBytes(ip));
  return IpText(bytes);
}

core::Result<IpNetwork> ParseCidr(std::string_view cidr) {
  auto bad = [&](std::string_view cause) {
    return Fail(ErrorCode::kInvalidName,
                "invalid IP network " + QuoteName(cidr) + ": " + std::string(cause));
  };
  std::size_t slash = cidr.find('/');
  IpNetwork net;
  if (!ParseIp(cidr.substr(0, slash), net.address)) {
    return bad("not an IPv4 or IPv6 address/prefix (e.g. \"10.0.0.0/8\")");
  }
  const int max_prefix = static_cast<int>(net.address.size()) * 8;
  net.prefix = max_prefix;
  if (slash != std::string_view::npos) {
    std::string_view p = cidr.substr(slash + 1);
    if (p.empty() || p.size() > 3 ||
        !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return bad("the prefix length is not a number");
    }
    net.prefix = std::stoi(std::string(p));
    if (net.prefix > max_prefix) {
      return bad("the prefix length is more than " + std::to_string(max_prefix));
    }
  }
  net.mask.assign(net.address.size(), '\0');
  for (int bit = 0; bit < net.prefix; ++bit) {
    net.mask[bit / 8] = static_cast<char>(net.mask[bit / 8] | (0x80 >> (bit % 8)));
  }
  std::string masked = net.address;
  for (std::size_t i = 0; i < masked.size(); ++i) {
    masked[i] = static_cast<char>(masked[i] & net.mask[i]);
  }
  if (masked != net.address) {
    return bad("host bits are set; did you mean " + IpText(masked) + "/" +
               std::to_string(net.prefix) + "?");
  }
  net.text = IpText(net.address) + "/" + std::to_string(net.prefix);
  return net;
}

core::Result<std::string> CanonicalEmail(std::string_view email) {
  auto bad = [&](std::string_view cause) {
    return Fail(ErrorCode::kInvalidName,
                "invalid e-mail address " + QuoteName(email) + ": " + std::string(cause));
  };
  std::size_t at = email.rfind('@');
  if (at == std::string_view::npos) {
    return bad("no '@'");
  }
  std::string_view local = email.substr(0, at);
  std::string_view domain = email.substr(at + 1);
  if (local.empty() || local.size() > kMaxLocalPart) {
    return bad("the local part must have 1 to 64 characters");
  }
  // rfc822Name is an IA5String (RFC 5280 4.2.1.6): printable ASCII, no quoting, no spaces.
  for (unsigned char c : local) {
    if (c <= 0x20 || c >= 0x7f || c == '@' || c == '"' || c == '\\' || c == '(' || c == ')' ||
        c == ',' || c == ':' || c == ';' || c == '<' || c == '>' || c == '[' || c == ']') {
      return bad("the local part has a character that is not allowed");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return bad("the local part has a misplaced '.'");
  }
  auto canonical_domain = CanonicalDnsName(domain, /*allow_wildcard=*/false);
  if (!canonical_domain) {
    return bad("the domain " + QuoteName(domain) + " is not a valid DNS name");
  }
  std::string out = std::string(local) + "@" + *canonical_domain;
  if (out.size() > kMaxEmail) {
    return bad("longer than 254 characters");
  }
  return out;
}

core::Result<std::string> CanonicalUri(std::string_view uri) {
  auto bad = [&](std::string_view cause) {
    return Fail(ErrorCode::kInvalidName,
                "invalid URI " + QuoteName(uri) + ": " + std::string(cause));
  };
  for (unsigned char c : uri) {
    if (c <= 0x20 || c >= 0x7f) {
      return bad("contains a space, control or non-ASCII character");
    }
  }
  // RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
  std::size_t colon = uri.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return bad("no scheme (RFC 5280 4.2.1.6 wants an absolute URI such as \"spiffe://...\")");
  }
  std::string scheme = core::AsciiLower(uri.substr(0, colon));
  if (!(scheme[0] >= 'a' && scheme[0] <= 'z') ||
      !std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
      })) {
    return bad("the scheme is not valid");
  }
  std::string_view rest = uri.substr(colon + 1);
  if (rest.empty()) {
    return bad("nothing after the scheme");
  }
  if (rest.substr(0, 2) == "//") {
    // RFC 5280 4.2.1.6: a URI with an authority must name a host.
    std::string_view authority = rest.substr(2, rest.find_first_of("/?#", 2) - 2);
    std::size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      authority = authority.substr(at + 1);
    }
    if (authority.empty() || authority.front() == ':') {
      return bad("the authority has no host");
    }
  }
  return scheme + ":" + std::string(rest);
}

core::Result<std::string> CheckOtherNameCommonName(std::string_view cn) {
  auto bad = [&](std::string_view why) {
    return Fail(ErrorCode::kInvalidName,
                "invalid common name " + QuoteName(cn) + ": " + std::string(why));
  };
  std::vector<char32_t> cps;
  if (cn.empty()) {
    return bad("is empty");
  }
  if (!DecodeUtf8(cn, cps)) {
    return bad("is not valid UTF-8");
  }
  if (std::any_of(cps.begin(), cps.end(),
                  [](char32_t c) { return c < 0x20 || (c >= 0x7f && c < 0xa0); })) {
    return bad("contains a control character");
  }
  // X.520 ub-common-name (RFC 5280 Appendix A.1).
  if (cps.size() > 64) {
    return bad("is longer than 64 characters");
  }
  return std::string(cn);
}

core::Result<SubjectAltNames> CanonicalSans(const SubjectAltNames& sans) {
  SubjectAltNames out;
  for (const auto& name : sans.dns) {
    CTLS_ASSIGN_OR_RETURN(std::string c, CanonicalDnsName(name));
    AddUnique(out.dns, std::move(c));
  }
  for (const auto& ip : sans.ips) {
    CTLS_ASSIGN_OR_RETURN(std::string c, CanonicalIp(ip));
    AddUnique(out.ips, std::move(c));
  }
  for (const auto& uri : sans.uris) {
    CTLS_ASSIGN_OR_RETURN(std::string c, CanonicalUri(uri));
    AddUnique(out.uris, std::move(c));
  }
  for (const auto& email : sans.emails) {
    CTLS_ASSIGN_OR_RETURN(std::string c, CanonicalEmail(email));
    AddUnique(out.emails, std::move(c));
  }
  return out;
}

core::Result<void> AddCommonNameToSans(std::string_view common_name, SubjectAltNames& sans) {
  if (IsIpAddress(common_name)) {
    CTLS_ASSIGN_OR_RETURN(std::string ip, CanonicalIp(common_name));
    AddUnique(sans.ips, std::move(ip));
    return {};
  }
  CTLS_ASSIGN_OR_RETURN(std::string dns, CanonicalDnsName(common_name));
  AddUnique(sans.dns, std::move(dns));
  return {};
}

namespace {

// The subject attributes kept besides the CN, with RFC 5280 Appendix A's upper bounds (in
// characters) of their values.
struct SubjectAttributeSpec {
  const char* label;      // the short name, as OpenSSL and RFC 4514 write it
  const char* long_name;  // the X.520 name
  std::size_t max_chars;
  const char* bound;  // the name of the bound, for messages
};

constexpr std::array<SubjectAttributeSpec, 6> kSubjectAttributes = {{
    {"C", "countryName", 2, "ub-country-name-alpha-length"},
    {"ST", "stateOrProvinceName", 128, "ub-state-name"},
    {"L", "localityName", 128, "ub-locality-name"},
    {"O", "organizationName", 64, "ub-organization-name"},
    {"OU", "organizationalUnitName", 64, "ub-organizational-unit-name"},
    // RFC 4519 2.4: an IA5String holding one DNS label (the bound is RFC 1034's label length).
    {"DC", "domainComponent", 63, "a DNS label's 63 octets"},
}};
constexpr std::size_t kCountry = 0;          // index of C in kSubjectAttributes
constexpr std::size_t kDomainComponent = 5;  // index of DC

bool SameType(std::string_view type, const char* name) {
  return core::AsciiLower(type) == core::AsciiLower(name);
}

const SubjectAttributeSpec* FindSubjectAttribute(std::string_view type) {
  for (const SubjectAttributeSpec& spec : kSubjectAttributes) {
    if (SameType(type, spec.label) || SameType(type, spec.long_name)) {
      return &spec;
    }
  }
  return nullptr;
}

bool IsCommonNameType(std::string_view type) {
  return SameType(type, "CN") || SameType(type, "commonName");
}

// C0 controls, DEL and the C1 controls U+0080..U+009F.
bool IsControlCodePoint(char32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

core::Result<SubjectAttributes> CanonicalSubjectAttributes(const SubjectAttributes& attributes) {
  SubjectAttributes out;
  out.reserve(attributes.size());
  std::array<std::size_t, kSubjectAttributes.size()> counts{};
  std::vector<char32_t> code_points;
  // Named references, not a structured binding: clang before 16 cannot capture a binding in
  // the lambda below (the fuzz build, tests/fuzz, uses clang 14).
  for (const auto& attribute : attributes) {
    const std::string& type = attribute.first;
    const std::string& value = attribute.second;
    const SubjectAttributeSpec* spec = FindSubjectAttribute(type);
    if (spec == nullptr) {
      if (IsCommonNameType(type)) {
        return Fail(ErrorCode::kInvalidArgument,
                    "subject attribute CN is not one of the extra attributes: the common name is "
                    "given on its own");
      }
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown subject attribute " + QuoteName(type) + " (use C, ST, L, O, OU or DC)");
    }
    const std::string label = spec->label;
    auto bad = [&](const std::string& why) {
      return Fail(ErrorCode::kInvalidArgument,
                  "subject attribute " + label + " " + QuoteName(value) + ": " + why);
    };
    if (value.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "subject attribute " + label + " is empty");
    }
    if (!DecodeUtf8(value, code_points)) {
      return bad("not valid UTF-8");
    }
    if (std::any_of(code_points.begin(), code_points.end(), IsControlCodePoint)) {
      return bad("contains a control character");
    }
    const auto index = static_cast<std::size_t>(spec - kSubjectAttributes.data());
    if (index == kCountry) {
      auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
      if (value.size() != 2 || !upper(value[0]) || !upper(value[1])) {
        return bad("a country must be 2 letters, upper case (ISO 3166-1 alpha-2, e.g. \"US\")");
      }
    } else if (index == kDomainComponent && !std::all_of(value.begin(), value.end(), [](char c) {
                 return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-';
               })) {
      return bad("a domain component is one DNS label: letters, digits and '-'");
    } else if (code_points.size() > spec->max_chars) {
      return bad(std::to_string(code_points.size()) + " characters, more than " +
                 std::to_string(spec->max_chars) + " (RFC 5280 " + spec->bound + ")");
    }
    const std::size_t max = index == kCountry ? 1 : kMaxSubjectAttributeRepeats;
    if (++counts[index] > max) {
      return Fail(ErrorCode::kInvalidArgument,
                  "subject attribute " + label + " is given more than " +
                      (max == 1 ? std::string("once") : std::to_string(max) + " times"));
    }
    out.emplace_back(label, value);
  }
  return out;
}

core::Result<SubjectText> ParseSubjectText(std::string_view text) {
  auto fail = [](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument, "subject: " + why);
  };
  // OpenSSL's -subj form starts with '/'; anything else is read as RFC 4514.
  const bool slash_form = !text.empty() && text.front() == '/';
  if (slash_form) {
    text.remove_prefix(1);
  }
  const char separator = slash_form ? '/' : ',';

  struct Part {
    std::string type;
    std::string value;
    bool has_equals = false;
    std::size_t kept = 0;  // value[0, kept) ends with an escaped character: never trimmed
  };
  std::vector<Part> parts;
  Part part;
  auto finish = [&]() -> core::Result<void> {
    auto trim = [](std::string& s, std::size_t keep) {
      while (s.size() > keep && s.back() == ' ') {
        s.pop_back();
      }
    };
    trim(part.type, 0);
    trim(part.value, part.kept);
    if (part.type.empty() && !part.has_equals) {
      part = Part{};
      return {};  // an empty part ("/C=US/", ",,")
    }
    if (!part.has_equals) {
      return fail("part " + QuoteName(part.type) +
                  " has no '=' (write TYPE=value, e.g. O=Example)");
    }
    if (part.type.empty()) {
      return fail("a part has no attribute type before '='");
    }
    parts.push_back(std::move(part));
    part = Part{};
    return {};
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    std::string& into = part.has_equals ? part.value : part.type;
    if (c == '\\') {
      if (i + 1 >= text.size()) {
        return fail("ends with a lone '\\'");
      }
      if (!slash_form && i + 2 < text.size() && IsHexDigit(text[i + 1]) &&
          IsHexDigit(text[i + 2])) {
        into.push_back(static_cast<char>(core::HexDigitValue(text[i + 1]) * 16 +
                                         core::HexDigitValue(text[i + 2])));
        i += 2;
      } else {
        into.push_back(text[++i]);
      }
      if (part.has_equals) {
        part.kept = part.value.size();
      }
      continue;
    }
    if (c == separator) {
      CTLS_RETURN_IF_ERROR(finish());
      continue;
    }
    if (c == '+') {
      return fail("multi-valued RDNs ('+') are not supported; write a literal '+' as \\+");
    }
    if (c == '=' && !part.has_equals) {
      part.has_equals = true;
      continue;
    }
    if (c == ' ' && into.empty()) {
      continue;  // leading space of a type or value
    }
    into.push_back(c);
  }
  CTLS_RETURN_IF_ERROR(finish());
  if (parts.empty()) {
    return fail("empty (write e.g. /C=US/O=Example/CN=name or CN=name,O=Example,C=US)");
  }
  if (!slash_form) {
    std::reverse(parts.begin(), parts.end());  // RFC 4514 writes the most significant RDN last
  }
  SubjectText out;
  SubjectAttributes attributes;
  bool has_cn = false;
  for (Part& p : parts) {
    if (IsCommonNameType(p.type)) {
      if (has_cn) {
        return fail("more than one CN");
      }
      if (p.value.empty()) {
        return fail("CN is empty");
      }
      has_cn = true;
      out.common_name = std::move(p.value);
    } else {
      attributes.emplace_back(std::move(p.type), std::move(p.value));
    }
  }
  CTLS_ASSIGN_OR_RETURN(out.attributes, CanonicalSubjectAttributes(attributes));
  return out;
}

}  // namespace clustertls::pki
