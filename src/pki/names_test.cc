#include "pki/names.h"

#include <gtest/gtest.h>

#include <string>

namespace clustertls::pki {
namespace {

using core::ErrorCode;

// Expects `result` to fail with kInvalidName, its message containing each of `parts`.
template <typename T>
void ExpectInvalid(const core::Result<T>& result, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidName);
  for (const auto& part : parts) {
    EXPECT_NE(result.error().message.find(part), std::string::npos)
        << "message: " << result.error().message << "\nexpected to contain: " << part;
  }
}

TEST(CanonicalDnsNameTest, LowerCasesAndDropsTrailingDot) {
  auto r = CanonicalDnsName("WWW.Example.COM.");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, "www.example.com");
  EXPECT_EQ(*CanonicalDnsName("localhost"), "localhost");
  EXPECT_EQ(*CanonicalDnsName("a-b.c0.example"), "a-b.c0.example");
}

TEST(CanonicalDnsNameTest, AcceptsWildcardAsWholeLeftMostLabel) {
  EXPECT_EQ(*CanonicalDnsName("*.Example.com"), "*.example.com");
  ExpectInvalid(CanonicalDnsName("*.example.com", /*allow_wildcard=*/false),
                {"\"*.example.com\"", "not allowed"});
}

TEST(CanonicalDnsNameTest, RefusesMisplacedWildcards) {
  ExpectInvalid(CanonicalDnsName("*.*.x"), {"\"*.*.x\"", "wildcard"});
  ExpectInvalid(CanonicalDnsName("f*o.example.com"), {"\"f*o.example.com\"", "wildcard"});
  ExpectInvalid(CanonicalDnsName("*"), {"\"*\"", "wildcard"});
  ExpectInvalid(CanonicalDnsName("*.com"), {"\"*.com\"", "two labels"});
  ExpectInvalid(CanonicalDnsName("www.*.example.com"), {"left-most"});
  ExpectInvalid(CanonicalDnsName("**.example.com"), {"wildcard"});
}

TEST(CanonicalDnsNameTest, RefusesNulAndControlCharactersQuotingTheNameEscaped) {
  using namespace std::string_literals;
  ExpectInvalid(CanonicalDnsName("a\0b.com"s), {"invalid DNS name \"a\\x00b.com\"", "NUL"});
  ExpectInvalid(CanonicalDnsName("a\nb.com"), {"\"a\\x0ab.com\"", "control character"});
  ExpectInvalid(CanonicalDnsName("a\x7f.com"), {"\"a\\x7f.com\"", "control character"});
  // C1 control (U+0085) encoded in UTF-8.
  ExpectInvalid(CanonicalDnsName("a\xc2\x85.com"), {"control character"});
}

TEST(CanonicalDnsNameTest, EnforcesLabelAndNameLengths) {
  std::string label63(63, 'a');
  EXPECT_TRUE(CanonicalDnsName(label63 + ".com").has_value());
  std::string label64(64, 'a');
  ExpectInvalid(CanonicalDnsName(label64 + ".com"), {label64, "longer than 63"});

  // 4 * 63 + 3 dots = 255 > 253; 3 * 63 + 61 + 3 dots = 253 is the limit.
  std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(name253.size(), 253u);
  EXPECT_TRUE(CanonicalDnsName(name253).has_value());
  EXPECT_TRUE(CanonicalDnsName(name253 + ".").has_value());  // trailing dot not counted
  std::string name254 = name253 + "b";
  ASSERT_EQ(name254.size(), 254u);
  ExpectInvalid(CanonicalDnsName(name254), {name254, "longer than 253"});
}

TEST(CanonicalDnsNameTest, RefusesOtherMalformedNames) {
  ExpectInvalid(CanonicalDnsName(""), {"\"\"", "empty"});
  ExpectInvalid(CanonicalDnsName("."), {"no labels"});
  ExpectInvalid(CanonicalDnsName("a..b"), {"\"a..b\"", "empty label"});
  ExpectInvalid(CanonicalDnsName("-a.com"), {"'-'"});
  ExpectInvalid(CanonicalDnsName("a-.com"), {"'-'"});
  ExpectInvalid(CanonicalDnsName("a_b.com"), {"'_'"});
  ExpectInvalid(CanonicalDnsName("a b.com"), {"\"a b.com\""});
  ExpectInvalid(CanonicalDnsName("example.123"), {"all digits"});
  ExpectInvalid(CanonicalDnsName("10.0.0.1"), {"\"10.0.0.1\"", "IP address"});
  ExpectInvalid(CanonicalDnsName("::1"), {"IP address"});
}

TEST(CanonicalDnsNameTest, EncodesIdnsAsALabels) {
  // RFC 3492 / well-known IDNA examples.
  EXPECT_EQ(*CanonicalDnsName("bücher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(*CanonicalDnsName("münchen.de"), "xn--mnchen-3ya.de");
  EXPECT_EQ(*CanonicalDnsName("例え.jp"), "xn--r8jz45g.jp");
  EXPECT_EQ(*CanonicalDnsName("日本語.jp"), "xn--wgv71a119e.jp");
  EXPECT_EQ(*CanonicalDnsName("*.Bücher.example"), "*.xn--bcher-kva.example");
  // ASCII upper case inside an IDN label is lowered before encoding.
  EXPECT_EQ(*CanonicalDnsName("BÜcher.example"), *CanonicalDnsName("bÜcher.example"));
  // Already-encoded A-labels pass through (lower-cased).
  EXPECT_EQ(*CanonicalDnsName("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
}

// RFC 5891 section 5.4: a label starting "xn--" (any case) must be a real A-label.
TEST(CanonicalDnsNameTest, ChecksALabels) {
  // The finding: "xn--zz" does not decode (its variable-length integer is truncated).
  ExpectInvalid(CanonicalDnsName("xn--zz"),
                {"invalid DNS name \"xn--zz\"",
                 "\"xn--zz\" is not a valid A-label (Punycode does not decode)"});
  ExpectInvalid(CanonicalDnsName("xn--zz.example.com"),
                {"\"xn--zz.example.com\"", "\"xn--zz\" is not a valid A-label"});
  ExpectInvalid(CanonicalDnsName("*.XN--ZZ.example.com"), {"\"xn--zz\"", "does not decode"});
  ExpectInvalid(CanonicalDnsName("xn--.example.com"),
                {"\"xn--\" is not a valid A-label (nothing follows \"xn--\")"});
  // "a" decodes to U+0080, a C1 control character.
  ExpectInvalid(CanonicalDnsName("xn--a.example.com"),
                {"\"xn--a\" is not a valid A-label (it decodes to a control character)"});
  // Only basic code points: "xn--abc-" decodes to "abc", which is not an IDN.
  ExpectInvalid(CanonicalDnsName("xn--abc-.example.com"),
                {"\"xn--abc-\"", "decodes to an all-ASCII label"});
  // A character that is not a Punycode digit after the delimiter.
  ExpectInvalid(CanonicalDnsName("xn---abc.example.com"), {"Punycode does not decode"});
  // "bcher--kva" decodes to "bchêer-": a U-label may not end with '-' (RFC 5891 4.2.3.1), and
  // neither may the same label given in UTF-8.
  ExpectInvalid(
      CanonicalDnsName("xn--bcher--kva.example"),
      {"\"xn--bcher--kva\" is not a valid A-label (it decodes to a '-' at its start or end)"});
  ExpectInvalid(CanonicalDnsName("bch\xc3\xaa"
                                 "er-.example"),
                {"'-' at its start or end"});
  ExpectInvalid(CanonicalDnsName("ab--\xc3\xbc.example"), {"third and fourth"});
  ExpectInvalid(CanonicalDnsName("xn--\xc3\xbc.example"), {"third and fourth"});
  // An overflowing integer.
  ExpectInvalid(CanonicalDnsName("xn--99999999999999.example"), {"Punycode does not decode"});
  // A space character (U+3000) is refused as an A-label as in its UTF-8 form.
  ExpectInvalid(CanonicalDnsName("xn--p6j.example"), {"decodes to a space character"});
  ExpectInvalid(CanonicalDnsName("\xe3\x80\x80.example"), {"space character"});

  // Valid A-labels pass, canonically lower-cased.
  EXPECT_EQ(*CanonicalDnsName("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
  EXPECT_EQ(*CanonicalDnsName("xn--bcher-kva.example.com"), "xn--bcher-kva.example.com");
  EXPECT_EQ(*CanonicalDnsName("Xn--Mnchen-3ya.DE"), "xn--mnchen-3ya.de");
  EXPECT_EQ(*CanonicalDnsName("*.xn--r8jz45g.jp"), "*.xn--r8jz45g.jp");
  EXPECT_EQ(*CanonicalDnsName("xn--n3h.example"), "xn--n3h.example");  // U+2603 snowman
}

// U-label -> A-label -> back: the A-label CanonicalDnsName makes from a U-label is accepted as
// an A-label and stays the same, and equals what the UTF-8 form gives.
TEST(CanonicalDnsNameTest, ULabelToALabelRoundTrips) {
  for (std::string ulabel : {"bücher", "münchen", "例え", "日本語", "☃", "ñandú", "straße",
                             "παράδειγμα", "пример", "a-ü-b", "ü1"}) {
    auto alabel = CanonicalDnsName(ulabel + ".example");
    ASSERT_TRUE(alabel.has_value()) << ulabel << ": " << alabel.error().message;
    ASSERT_TRUE(alabel->starts_with("xn--")) << *alabel;
    auto again = CanonicalDnsName(*alabel);
    ASSERT_TRUE(again.has_value()) << *alabel << ": " << again.error().message;
    EXPECT_EQ(*again, *alabel);
    std::string upper = *alabel;
    for (char& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(*CanonicalDnsName(upper), *alabel) << upper;
  }
}

TEST(CanonicalDnsNameTest, RefusesInvalidUtf8) {
  ExpectInvalid(CanonicalDnsName("b\xfc"
                                 "cher.example"),
                {"\"b\\xfccher.example\"", "UTF-8"});
  ExpectInvalid(CanonicalDnsName("\xc0\xaf.example"), {"UTF-8"});      // over-long
  ExpectInvalid(CanonicalDnsName("\xed\xa0\x80.example"), {"UTF-8"});  // surrogate
  ExpectInvalid(CanonicalDnsName("\xe6\x97.example"), {"UTF-8"});      // truncated
}

TEST(CanonicalIpTest, CanonicalisesV4AndV6) {
  EXPECT_EQ(*CanonicalIp("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(*CanonicalIp("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  EXPECT_EQ(*CanonicalIp("::1"), "::1");
  EXPECT_TRUE(IsIpAddress("127.0.0.1"));
  EXPECT_FALSE(IsIpAddress("example.com"));
}

TEST(CanonicalIpTest, RefusesBadAddresses) {
  ExpectInvalid(CanonicalIp("1.2.3"), {"invalid IP address \"1.2.3\""});
  ExpectInvalid(CanonicalIp("256.1.1.1"), {"\"256.1.1.1\""});
  ExpectInvalid(CanonicalIp("1.2.3.4 "), {"\"1.2.3.4 \""});
  ExpectInvalid(CanonicalIp("fe80::1%eth0"), {"\"fe80::1%eth0\""});
  ExpectInvalid(CanonicalIp(""), {"\"\""});
  using namespace std::string_literals;
  ExpectInvalid(CanonicalIp("1.2.3.4\0"s), {"\"1.2.3.4\\x00\""});
}

TEST(IpAddressBytesTest, ReturnsRawBytes) {
  EXPECT_EQ(*IpAddressBytes("10.1.2.3"), std::string("\x0a\x01\x02\x03", 4));
  EXPECT_EQ(IpAddressBytes("::1")->size(), 16u);
}

TEST(ParseCidrTest, ParsesNetworks) {
  auto v4 = ParseCidr("10.0.0.0/8");
  ASSERT_TRUE(v4.has_value()) << v4.error().message;
  EXPECT_EQ(v4->address, std::string("\x0a\x00\x00\x00", 4));
  EXPECT_EQ(v4->mask, std::string("\xff\x00\x00\x00", 4));
  EXPECT_EQ(v4->prefix, 8);
  EXPECT_EQ(v4->text, "10.0.0.0/8");

  auto v6 = ParseCidr("2001:DB8::/33");
  ASSERT_TRUE(v6.has_value()) << v6.error().message;
  EXPECT_EQ(v6->mask.size(), 16u);
  EXPECT_EQ(static_cast<unsigned char>(v6->mask[4]), 0x80);
  EXPECT_EQ(static_cast<unsigned char>(v6->mask[5]), 0x00);
  EXPECT_EQ(v6->text, "2001:db8::/33");

  auto host = ParseCidr("192.168.1.7");
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->prefix, 32);
  EXPECT_EQ(host->mask, std::string(4, '\xff'));
}

TEST(ParseCidrTest, RefusesBadNetworks) {
  ExpectInvalid(ParseCidr("10.0.0.1/8"), {"\"10.0.0.1/8\"", "did you mean 10.0.0.0/8"});
  ExpectInvalid(ParseCidr("10.0.0.0/33"), {"more than 32"});
  ExpectInvalid(ParseCidr("10.0.0.0/"), {"not a number"});
  ExpectInvalid(ParseCidr("10.0.0.0/-1"), {"not a number"});
  ExpectInvalid(ParseCidr("example.com/8"), {"\"example.com/8\""});
}

TEST(CanonicalEmailTest, CanonicalisesTheDomainOnly) {
  EXPECT_EQ(*CanonicalEmail("Alice.Smith@Example.COM"), "Alice.Smith@example.com");
  EXPECT_EQ(*CanonicalEmail("ops+tls@bücher.example"), "ops+tls@xn--bcher-kva.example");
  ExpectInvalid(CanonicalEmail("alice"), {"invalid e-mail address \"alice\"", "'@'"});
  ExpectInvalid(CanonicalEmail("@example.com"), {"local part"});
  ExpectInvalid(CanonicalEmail("a b@example.com"), {"local part"});
  ExpectInvalid(CanonicalEmail("a..b@example.com"), {"'.'"});
  ExpectInvalid(CanonicalEmail("alice@*.example.com"), {"domain"});
  ExpectInvalid(CanonicalEmail("alice@exa mple.com"), {"domain"});
}

TEST(CanonicalUriTest, ChecksAbsoluteUris) {
  EXPECT_EQ(*CanonicalUri("SPIFFE://cluster.local/ns/default/sa/web"),
            "spiffe://cluster.local/ns/default/sa/web");
  EXPECT_EQ(*CanonicalUri("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
            "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66");
  ExpectInvalid(CanonicalUri("/relative/path"), {"\"/relative/path\"", "scheme"});
  ExpectInvalid(CanonicalUri("https://exa mple.com/"), {"space"});
  ExpectInvalid(CanonicalUri("https:///path"), {"no host"});
  ExpectInvalid(CanonicalUri("1http://x"), {"scheme"});
  ExpectInvalid(CanonicalUri("https:"), {"nothing after"});
}

TEST(CanonicalSansTest, CanonicalisesAndDeduplicates) {
  SubjectAltNames in{.dns = {"B.example.com", "b.example.com.", "a.example.com"},
                     .ips = {"10.0.0.1", "2001:DB8::1", "2001:db8:0::1"},
                     .uris = {"spiffe://x/y"},
                     .emails = {"a@Example.com", "a@example.com"}};
  auto out = CanonicalSans(in);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_EQ(out->dns, (std::vector<std::string>{"b.example.com", "a.example.com"}));
  EXPECT_EQ(out->ips, (std::vector<std::string>{"10.0.0.1", "2001:db8::1"}));
  EXPECT_EQ(out->uris, (std::vector<std::string>{"spiffe://x/y"}));
  EXPECT_EQ(out->emails, (std::vector<std::string>{"a@example.com"}));

  ExpectInvalid(CanonicalSans(SubjectAltNames{.dns = {"ok.example.com", "*.*.x"}}), {"\"*.*.x\""});
  ExpectInvalid(CanonicalSans(SubjectAltNames{.ips = {"999.0.0.1"}}), {"\"999.0.0.1\""});
}

TEST(AddCommonNameToSansTest, AddsCnAsDnsOrIpOnce) {
  SubjectAltNames sans{.dns = {"www.example.com"}};
  ASSERT_TRUE(AddCommonNameToSans("WWW.example.com", sans).has_value());
  EXPECT_EQ(sans.dns, (std::vector<std::string>{"www.example.com"}));
  ASSERT_TRUE(AddCommonNameToSans("api.example.com", sans).has_value());
  EXPECT_EQ(sans.dns, (std::vector<std::string>{"www.example.com", "api.example.com"}));
  ASSERT_TRUE(AddCommonNameToSans("10.1.1.1", sans).has_value());
  EXPECT_EQ(sans.ips, (std::vector<std::string>{"10.1.1.1"}));
  ExpectInvalid(AddCommonNameToSans("My Server", sans), {"\"My Server\""});
}

// Expects `result` to fail with kInvalidArgument, its message containing each of `parts`.
template <typename T>
void ExpectBadSubject(const core::Result<T>& result, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  for (const auto& part : parts) {
    EXPECT_NE(result.error().message.find(part), std::string::npos)
        << "message: " << result.error().message << "\nexpected to contain: " << part;
  }
}

TEST(CanonicalSubjectAttributesTest, RelabelsAndKeepsOrder) {
  auto r = CanonicalSubjectAttributes({{"c", "US"},
                                       {"stateOrProvinceName", "California"},
                                       {"L", "San Francisco"},
                                       {"organizationName", "Example, Inc."},
                                       {"ou", "ops"},
                                       {"OU", "Zürich"}});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(*r, (SubjectAttributes{{"C", "US"},
                                   {"ST", "California"},
                                   {"L", "San Francisco"},
                                   {"O", "Example, Inc."},
                                   {"OU", "ops"},
                                   {"OU", "Zürich"}}));
  EXPECT_TRUE(CanonicalSubjectAttributes({}).has_value());
}

TEST(CanonicalSubjectAttributesTest, RefusesOtherAttributesAndBadValues) {
  ExpectBadSubject(CanonicalSubjectAttributes({{"emailAddress", "a@example.com"}}),
                   {"unknown subject attribute \"emailAddress\"", "C, ST, L, O, OU or DC"});
  // DC (certutil's DNs carry it) is one DNS label.
  EXPECT_EQ(*CanonicalSubjectAttributes({{"dc", "mydomain"}, {"domainComponent", "com"}}),
            (SubjectAttributes{{"DC", "mydomain"}, {"DC", "com"}}));
  ExpectBadSubject(CanonicalSubjectAttributes({{"DC", "my.domain"}}),
                   {"DC \"my.domain\"", "one DNS label"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"DC", "Zürich"}}), {"one DNS label"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"CN", "x"}}), {"CN", "common name"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"O", ""}}), {"subject attribute O is empty"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"C", "USA"}}), {"C \"USA\"", "2 letters"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"C", "us"}}), {"C \"us\"", "upper case"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"C", "U1"}}), {"C \"U1\""});
  ExpectBadSubject(CanonicalSubjectAttributes({{"OU", "a\nb"}}), {"OU", "control character"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"OU",
                                                "a\xc2\x85"
                                                "b"}}),  // U+0085 (C1)
                   {"OU", "control character"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"L", "\xff"}}), {"L", "not valid UTF-8"});
  // RFC 5280 Appendix A upper bounds, in characters.
  EXPECT_TRUE(CanonicalSubjectAttributes({{"O", std::string(64, 'o')}}).has_value());
  ExpectBadSubject(CanonicalSubjectAttributes({{"O", std::string(65, 'o')}}),
                   {"subject attribute O", "65 characters, more than 64", "ub-organization-name"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"OU", std::string(65, 'u')}}), {"OU", "64"});
  EXPECT_TRUE(CanonicalSubjectAttributes({{"ST", std::string(128, 's')}}).has_value());
  ExpectBadSubject(CanonicalSubjectAttributes({{"ST", std::string(129, 's')}}), {"ST", "128"});
  ExpectBadSubject(CanonicalSubjectAttributes({{"L", std::string(129, 'l')}}), {"L", "128"});
  std::string umlauts;
  for (int i = 0; i < 64; ++i) {
    umlauts += "ü";  // 64 characters, 128 bytes
  }
  EXPECT_TRUE(CanonicalSubjectAttributes({{"O", umlauts}}).has_value());
  // Repeats: C once, the others kMaxSubjectAttributeRepeats times.
  ExpectBadSubject(CanonicalSubjectAttributes({{"C", "US"}, {"C", "DE"}}), {"C", "once"});
  SubjectAttributes many(kMaxSubjectAttributeRepeats, {"OU", "x"});
  EXPECT_TRUE(CanonicalSubjectAttributes(many).has_value());
  many.emplace_back("OU", "y");
  ExpectBadSubject(CanonicalSubjectAttributes(many), {"OU", "more than 4 times"});
}

TEST(ParseSubjectTextTest, ReadsOpensslSlashForm) {
  auto r =
      ParseSubjectText("/C=US/ST=California/L=San Francisco/O=Example/OU=ops/CN=a.example.com");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->common_name, "a.example.com");
  EXPECT_EQ(r->attributes, (SubjectAttributes{{"C", "US"},
                                              {"ST", "California"},
                                              {"L", "San Francisco"},
                                              {"O", "Example"},
                                              {"OU", "ops"}}));
  // Escapes, spaces around types and values, a trailing '/', no CN.
  auto escaped = ParseSubjectText("/ O = A\\/B\\+C /OU=\\ x\\ /");
  ASSERT_TRUE(escaped.has_value()) << escaped.error().message;
  EXPECT_EQ(escaped->common_name, "");
  EXPECT_EQ(escaped->attributes, (SubjectAttributes{{"O", "A/B+C"}, {"OU", " x "}}));
}

TEST(ParseSubjectTextTest, ReadsRfc4514FormMostSignificantLast) {
  auto r =
      ParseSubjectText("CN=a.example.com, OU=ops, O=Example\\, Inc., L=San\\20Francisco, C=US");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->common_name, "a.example.com");
  EXPECT_EQ(r->attributes,
            (SubjectAttributes{
                {"C", "US"}, {"L", "San Francisco"}, {"O", "Example, Inc."}, {"OU", "ops"}}));
}

TEST(ParseSubjectTextTest, RefusesBadInput) {
  ExpectBadSubject(ParseSubjectText(""), {"empty"});
  ExpectBadSubject(ParseSubjectText("/"), {"empty"});
  ExpectBadSubject(ParseSubjectText("/C=US/Example"), {"\"Example\"", "no '='"});
  ExpectBadSubject(ParseSubjectText("/=x"), {"no attribute type"});
  ExpectBadSubject(ParseSubjectText("/O=a+OU=b"), {"multi-valued"});
  ExpectBadSubject(ParseSubjectText("/CN=a/CN=b"), {"more than one CN"});
  ExpectBadSubject(ParseSubjectText("/CN="), {"CN is empty"});
  ExpectBadSubject(ParseSubjectText("/O=x\\"), {"lone"});
  ExpectBadSubject(ParseSubjectText("/C=USA/O=x"), {"C \"USA\"", "2 letters"});
  ExpectBadSubject(ParseSubjectText("/emailAddress=a@b.c"), {"\"emailAddress\""});
  ExpectBadSubject(ParseSubjectText("/O="), {"subject attribute O is empty"});
}

TEST(QuoteNameTest, EscapesEverythingUnprintable) {
  using namespace std::string_literals;
  EXPECT_EQ(QuoteName("a\0b\"c\\d\xff"s), "\"a\\x00b\\\"c\\\\d\\xff\"");
}

}  // namespace
}  // namespace clustertls::pki
