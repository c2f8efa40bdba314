// Name canonicalisation (pki/names.h): DNS names with IDNs (UTF-8 -> A-labels), IPs, e-mail
// addresses, URIs, CIDRs, otherName CNs and subject texts, as they arrive in CSRs, request
// bodies, instances.yml and command lines. The first byte picks the reader; the rest is the
// text. A canonical form must be a fixed point: canonicalising it again gives it back.

#include "pki/names.h"

#include "fuzz_check.h"

using namespace clustertls;

namespace {

template <typename F>
void FixedPoint(F canonical, std::string_view in, const char* what) {
  auto once = canonical(in);
  if (!once) {
    return;
  }
  auto twice = canonical(*once);
  FUZZ_CHECK(twice.has_value(), std::string(what) + ": the canonical form " +
                                    pki::QuoteName(*once) +
                                    " is refused: " + twice.error().message);
  FUZZ_CHECK(*twice == *once,
             std::string(what) + ": " + pki::QuoteName(*once) + " -> " + pki::QuoteName(*twice));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view in = fuzz::AsView(data + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      FixedPoint([](std::string_view s) { return pki::CanonicalDnsName(s, true); }, in, "dns");
      break;
    case 1:
      FixedPoint([](std::string_view s) { return pki::CanonicalDnsName(s, false); }, in,
                 "dns (no wildcard)");
      break;
    case 2: {
      FixedPoint([](std::string_view s) { return pki::CanonicalIp(s); }, in, "ip");
      auto bytes = pki::IpAddressBytes(in);
      FUZZ_CHECK(bytes.has_value() == pki::IsIpAddress(in), "IsIpAddress and IpAddressBytes");
      if (bytes) {
        FUZZ_CHECK(bytes->size() == 4 || bytes->size() == 16, "IP of odd size");
      }
      break;
    }
    case 3:
      FixedPoint([](std::string_view s) { return pki::CanonicalEmail(s); }, in, "email");
      break;
    case 4:
      FixedPoint([](std::string_view s) { return pki::CanonicalUri(s); }, in, "uri");
      break;
    case 5:
      if (auto net = pki::ParseCidr(in)) {
        auto again = pki::ParseCidr(net->text);
        FUZZ_CHECK(again.has_value() && again->text == net->text &&
                       again->address == net->address && again->mask == net->mask,
                   "cidr " + net->text + " is not a fixed point");
        FUZZ_CHECK(net->address.size() == net->mask.size(), "cidr address and mask sizes");
      }
      break;
    case 6:
      FixedPoint([](std::string_view s) { return pki::CheckOtherNameCommonName(s); }, in,
                 "otherName CN");
      break;
    case 7:
      if (auto subject = pki::ParseSubjectText(in)) {
        auto again = pki::CanonicalSubjectAttributes(subject->attributes);
        FUZZ_CHECK(again.has_value() && *again == subject->attributes,
                   "subject attributes are not a fixed point");
      }
      break;
  }
  return 0;
}
