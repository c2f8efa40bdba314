// `clustertls cert issue|generate|bulk`.
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <openssl/pem.h>

#include "cli/bundle.h"
#include "cli/common.h"
#include "cli/instances.h"
#include "cli/offline_ca.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/summary.h"
#include "ossl/bio.h"
#include "pki/names.h"
#include "pki/pkcs12.h"

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;

// Serialises access to a Rng so worker threads can share the injected one.
class LockedRng final : public core::Rng {
 public:
  explicit LockedRng(core::Rng& inner) : inner_(inner) {}
  core::Result<void> Fill(std::span<std::uint8_t> out) override {
    std::lock_guard lock(mu_);
    return inner_.Fill(out);
  }

 private:
  core::Rng& inner_;
  std::mutex mu_;
};

// The SubjectPublicKeyInfo of an EC or Ed25519 key, built from the key's public parameters
// without the provider encoder (Issuer::IssueDer copies its algorithm and bits). Null for other
// key types: the caller then uses Issuer::Issue.
ossl::Ptr<X509_PUBKEY> FastSpki(const pki::PrivateKey& key) {
  EVP_PKEY* pkey = key.get();
  auto pub = ossl::Own(X509_PUBKEY_new());
  if (!pub) {
    return nullptr;
  }
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {};
    std::size_t group_len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &group_len) != 1) {
      return nullptr;
    }
    int curve = OBJ_sn2nid(group);
    if (curve == NID_undef) {
      curve = OBJ_txt2nid(group);
    }
    if (curve == NID_undef) {
      return nullptr;
    }
    unsigned char* point = nullptr;
    std::size_t len = EVP_PKEY_get1_encoded_public_key(pkey, &point);
    if (len == 0 || point == nullptr) {
      return nullptr;
    }
    // RFC 5480 2.1.1: id-ecPublicKey with the named curve as parameters.
    if (X509_PUBKEY_set0_param(pub.get(), OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                               OBJ_nid2obj(curve), point, static_cast<int>(len)) != 1) {
      OPENSSL_free(point);
      return nullptr;
    }
    return pub;
  }
  if (EVP_PKEY_is_a(pkey, "ED25519")) {
    std::size_t len = 0;
    if (EVP_PKEY_get_raw_public_key(pkey, nullptr, &len) != 1 || len == 0) {
      return nullptr;
    }
    auto* raw = static_cast<unsigned char*>(OPENSSL_malloc(len));
    if (raw == nullptr || EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1) {
      OPENSSL_free(raw);
      return nullptr;
    }
    // RFC 8410 3: id-Ed25519, parameters absent.
    if (X509_PUBKEY_set0_param(pub.get(), OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, nullptr, raw,
                               static_cast<int>(len)) != 1) {
      OPENSSL_free(raw);
      return nullptr;
    }
    return pub;
  }
  return nullptr;
}

core::Result<pki::Profile> LeafProfile(const std::string& name) {
  CTLS_ASSIGN_OR_RETURN(pki::Profile p, pki::ParseProfile(name));
  if (p != pki::Profile::kServer && p != pki::Profile::kClient && p != pki::Profile::kPeer) {
    return UsageError("--profile must be server, client or peer");
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// cert issue

struct CertIssueOptions {
  std::string ca_cert;
  std::string ca_key;
  std::string ca_passphrase_file;
  std::string name;
  std::string subject;
  std::vector<std::string> dns;
  std::vector<std::string> ip;
  std::vector<std::string> uri;
  std::vector<std::string> email;
  std::string profile = "server";
  int days = 365;
  std::string key_type = "ec-p256";
  std::string out;
  std::string format = "pem";
  std::string p12_passphrase_file;
  std::string key_passphrase_file;
  std::string owner;
  bool force = false;
};

core::Result<int> RunCertIssue(const CertIssueOptions& o, Context& ctx) {
  CTLS_RETURN_IF_ERROR(CheckFileName("--name", o.name));
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  if (o.format == "p12" && o.p12_passphrase_file.empty()) {
    return UsageError("--format p12 needs --p12-passphrase-file (a PKCS#12 is always protected)");
  }
  if (o.format != "p12" && !o.p12_passphrase_file.empty()) {
    return UsageError("--p12-passphrase-file is only used with --format p12");
  }
  if (o.format == "p12" && !o.key_passphrase_file.empty()) {
    return UsageError("--key-passphrase-file does not apply to --format p12 (the PKCS#12 "
                      "passphrase protects the key)");
  }
  CTLS_ASSIGN_OR_RETURN(pki::Profile profile, LeafProfile(o.profile));
  CTLS_ASSIGN_OR_RETURN(pki::SubjectAttributes subject,
                        SubjectAttributesOption(o.subject, o.name, "--name"));
  const std::string crt_path = JoinPath(o.out, o.name + ".crt");
  const std::string key_path = JoinPath(o.out, o.name + ".key");
  const std::string p12_path = JoinPath(o.out, o.name + ".p12");
  const std::string zip_path = JoinPath(o.out, o.name + ".zip");
  {
    OutputSet planned;
    if (o.format == "pem") {
      planned.AddPublic(crt_path, "");
      planned.AddPrivate(key_path, "");
    } else if (o.format == "p12") {
      planned.AddPrivate(p12_path, "");
    } else {
      planned.AddPrivate(zip_path, "");
    }
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  }
  CTLS_ASSIGN_OR_RETURN(pki::Issuer issuer, LoadIssuer(o.ca_cert, o.ca_key, o.ca_passphrase_file));
  CTLS_ASSIGN_OR_RETURN(auto key_pass, ReadOptionalPassphrase(o.key_passphrase_file));
  CTLS_ASSIGN_OR_RETURN(auto p12_pass, ReadOptionalPassphrase(o.p12_passphrase_file));
  CTLS_ASSIGN_OR_RETURN(pki::KeyType type, pki::ParseKeyType(o.key_type));
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(type));
  const core::TimePoint now = ctx.clock.Now();
  pki::IssueRequest request{
      .profile = profile,
      .common_name = o.name,
      .subject_extra = std::move(subject),
      .sans = {.dns = o.dns, .ips = o.ip, .uris = o.uri, .emails = o.email},
      .validity = std::chrono::days(o.days),
  };
  CTLS_ASSIGN_OR_RETURN(pki::Certificate cert,
                        IssueNaming(issuer, o.ca_cert, request, key.public_key(), now, ctx.rng));

  OutputSet outputs;
  std::string written;
  if (o.format == "pem") {
    CTLS_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(key, key_pass));
    outputs.AddPublic(crt_path, LeafWithChainPem(cert, issuer));
    outputs.AddPrivate(key_path, std::move(key_pem));
    written = crt_path + " (certificate, then its chain) and " + key_path;
  } else if (o.format == "p12") {
    CTLS_ASSIGN_OR_RETURN(std::string p12,
                          pki::BuildPkcs12(key, cert, IssuerPath(issuer), *p12_pass,
                                           {.friendly_name = o.name}));
    outputs.AddPrivate(p12_path, std::move(p12));
    written = p12_path;
  } else {
    CTLS_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(key, key_pass));
    std::vector<ZipEntry> entries{
        {.name = "ca/ca.crt", .data = TopCa(issuer).ToPem(), .mode = core::kPublicFileMode},
        {.name = o.name + "/" + o.name + ".crt",
         .data = LeafWithChainPem(cert, issuer),
         .mode = core::kPublicFileMode},
        {.name = o.name + "/" + o.name + ".key",
         .data = std::move(key_pem),
         .mode = core::kPrivateFileMode},
    };
    CTLS_ASSIGN_OR_RETURN(std::string zip, BuildZip(entries));
    outputs.AddPrivate(zip_path, std::move(zip));
    written = zip_path + " (ca/ca.crt, " + o.name + "/" + o.name + ".crt, " + o.name + "/" +
              o.name + ".key)";
  }
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force, .owner = owner}));
  RecordIssued(o.ca_cert, issuer.certificate(), {IssuedEntry(cert)}, ctx);
  PrintCertificateSummary(ctx, std::string("Certificate (") + pki::ProfileName(profile) + ")",
                          cert, o.format == "pem" ? crt_path : written, now);
  if (o.format == "pem") {
    ctx.Info("Key:                 " + key_path + " (" + key.Describe() +
             (key_pass ? ", encrypted PKCS#8" : "") + ", " + KeyModeNote(owner) + ")");
  } else if (owner) {
    ctx.Info("Owner:               " + owner->spec + " (" + KeyModeNote(owner) + ")");
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// cert generate (Redis Enterprise's generate_self_signed_certs.sh)

struct CertGenerateOptions {
  std::vector<std::string> fqdn;
  int days = 365;
  std::string type = "all";
  std::string subject;
  std::string ca_cert;
  std::string ca_key;
  std::string ca_passphrase_file;
  std::string out;
  std::string key_type = "ec-p256";
  std::string owner;
  bool force = false;
};

const std::vector<std::string>& RedisTypes() {
  static const std::vector<std::string> kTypes{"cm", "api", "proxy", "syncer", "metrics"};
  return kTypes;
}

core::Result<int> RunCertGenerate(const CertGenerateOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  std::vector<std::string> fqdns;
  for (const auto& arg : o.fqdn) {
    std::istringstream in(arg);
    std::string word;
    while (in >> word) {
      auto name = pki::CanonicalDnsName(word, /*allow_wildcard=*/false);
      if (!name) {
        return name.error().WithContext("--fqdn");
      }
      if (std::find(fqdns.begin(), fqdns.end(), *name) == fqdns.end()) {
        fqdns.push_back(*name);
      }
    }
  }
  if (fqdns.empty()) {
    return UsageError("--fqdn needs at least one domain name");
  }
  CTLS_ASSIGN_OR_RETURN(
      pki::SubjectAttributes subject,
      SubjectAttributesOption(o.subject, fqdns.front(), "the CN is the first --fqdn"));
  std::vector<std::string> types;
  if (o.type == "all") {
    types = RedisTypes();
  } else {
    types = {o.type};
  }
  pki::SubjectAltNames sans;
  for (const auto& f : fqdns) {
    sans.dns.push_back(f);
    sans.dns.push_back("*." + f);
    sans.dns.push_back("internal." + f);
    sans.dns.push_back("*.internal." + f);
  }
  {
    OutputSet planned;
    for (const auto& t : types) {
      planned.AddPublic(JoinPath(o.out, t + "_cert.pem"), "");
      planned.AddPrivate(JoinPath(o.out, t + "_key.pem"), "");
    }
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  }
  std::optional<pki::Issuer> issuer;
  if (!o.ca_cert.empty()) {
    CTLS_ASSIGN_OR_RETURN(pki::Issuer loaded,
                          LoadIssuer(o.ca_cert, o.ca_key, o.ca_passphrase_file));
    issuer.emplace(std::move(loaded));
  }
  CTLS_ASSIGN_OR_RETURN(pki::KeyType key_type, pki::ParseKeyType(o.key_type));
  const core::TimePoint now = ctx.clock.Now();
  pki::IssueRequest request{
      .profile = pki::Profile::kPeer,
      .common_name = fqdns.front(),
      .subject_extra = std::move(subject),
      .sans = sans,
      .validity = std::chrono::days(o.days),
  };
  OutputSet outputs;
  std::vector<std::pair<std::string, pki::Certificate>> made;
  for (const auto& t : types) {
    CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(key_type));
    std::string cert_pem;
    if (issuer) {
      CTLS_ASSIGN_OR_RETURN(pki::Certificate cert,
                            IssueNaming(*issuer, o.ca_cert, request, key.public_key(), now, ctx.rng));
      cert_pem = LeafWithChainPem(cert, *issuer);
      made.emplace_back(t, cert);
    } else {
      CTLS_ASSIGN_OR_RETURN(pki::Certificate cert, pki::SelfSign(key, request, now, ctx.rng));
      cert_pem = cert.ToPem();
      made.emplace_back(t, cert);
    }
    CTLS_ASSIGN_OR_RETURN(std::string key_pem, key.ToPem());
    outputs.AddPublic(JoinPath(o.out, t + "_cert.pem"), std::move(cert_pem));
    outputs.AddPrivate(JoinPath(o.out, t + "_key.pem"), std::move(key_pem));
  }
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force, .owner = owner}));
  if (issuer) {
    std::vector<OfflineIssued> entries;
    for (const auto& [t, cert] : made) {
      entries.push_back(IssuedEntry(cert));
    }
    RecordIssued(o.ca_cert, issuer->certificate(), std::move(entries), ctx);
  }
  for (const auto& [t, cert] : made) {
    ctx.Info(t + ": " + JoinPath(o.out, t + "_cert.pem") + " " +
             JoinPath(o.out, t + "_key.pem") + "  SHA-256 " + cert.fingerprint().colon);
  }
  ctx.Info("Names: " + JoinSans(made.front().second.sans()));
  ctx.Info("Valid until: " + DescribeNotAfter(made.front().second.not_after(), now));
  ctx.Info("Keys: " + KeyModeNote(owner));
  ctx.Info("Install on Redis Enterprise with: rladmin cluster certificate set <type> "
           "certificate_file <type>_cert.pem key_file <type>_key.pem");
  // The line Redis' script prints, which scripts grep for.
  ctx.out << (issuer ? "Certificates generated successfully" : "Self signed cert generated successfully")
          << '\n';
  return 0;
}

// ---------------------------------------------------------------------------------------------
// cert bulk (elasticsearch-certutil cert --in instances.yml --multiple --pem)

struct CertBulkOptions {
  std::string in;
  std::string ca_cert;
  std::string ca_key;
  std::string ca_passphrase_file;
  std::string out;
  int days = 365;
  std::string key_type = "ec-p256";
  std::string profile = "server";
  int threads = 0;
  std::string owner;
  bool force = false;
};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

struct Issued {
  std::string cert_pem;
  std::string key_pem;
  OfflineIssued entry;  // for the CA's issued.json
};

core::Result<int> RunCertBulk(const CertBulkOptions& o, Context& ctx) {
  const bool zip_out = EndsWith(o.out, ".zip");
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  CTLS_ASSIGN_OR_RETURN(pki::Profile profile, LeafProfile(o.profile));
  CTLS_ASSIGN_OR_RETURN(std::string yaml, ReadInput(o.in));
  CTLS_ASSIGN_OR_RETURN(std::vector<Instance> instances, ParseInstances(yaml, o.in));
  // Every output is known now: refuse to start if any exists (without --force).
  auto member = [](const std::string& name, const char* ext) {
    return name + "/" + name + ext;
  };
  if (zip_out) {
    OutputSet planned;
    planned.AddPrivate(o.out, "");
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  } else {
    OutputSet planned;
    planned.AddPublic(JoinPath(o.out, "ca/ca.crt"), "");
    for (const auto& inst : instances) {
      planned.AddPublic(JoinPath(o.out, member(inst.filename, ".crt")), "");
      planned.AddPrivate(JoinPath(o.out, member(inst.filename, ".key")), "");
    }
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  }
  CTLS_ASSIGN_OR_RETURN(pki::Issuer issuer, LoadIssuer(o.ca_cert, o.ca_key, o.ca_passphrase_file));
  CTLS_ASSIGN_OR_RETURN(pki::KeyType key_type, pki::ParseKeyType(o.key_type));
  const core::TimePoint now = ctx.clock.Now();
  const std::string chain_pem = pki::ToPemBundle(IssuerPath(issuer));

  // Issue on every core: Issuer::Issue is const and thread-safe.
  std::vector<Issued> issued(instances.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::optional<core::Error> first_error;
  LockedRng rng(ctx.rng);
  Progress progress(ctx.err, instances.size(), "issuing", ctx.stderr_tty && !ctx.quiet);
  auto worker = [&] {
    for (;;) {
      std::size_t i = next.fetch_add(1);
      if (i >= instances.size() || failed.load()) {
        return;
      }
      const Instance& inst = instances[i];
      auto one = [&]() -> core::Result<void> {
        CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(key_type));
        pki::IssueRequest request{.profile = profile,
                                  .common_name = inst.common_name,
                                  .subject_extra = inst.subject_extra,
                                  .sans = inst.sans,
                                  .other_name_cns = inst.other_name_cns,
                                  .validity = std::chrono::days(o.days)};
        // The fast path skips re-parsing the issued certificate (the costly eager key decode
        // of OpenSSL 3's d2i): it is written out as issued.
        if (auto spki = FastSpki(key)) {
          pki::IssuedFacts facts;
          CTLS_ASSIGN_OR_RETURN(std::string der,
                                issuer.IssueDer(request, spki.get(), now, rng, &facts));
          issued[i].cert_pem = ossl::PemEncode(PEM_STRING_X509, der);
          issued[i].entry = IssuedEntry(facts);
          if (issued[i].cert_pem.empty()) {
            return Fail(ErrorCode::kCrypto, "cannot PEM-encode the certificate");
          }
        } else {
          CTLS_ASSIGN_OR_RETURN(pki::Certificate cert,
                                issuer.Issue(request, key.public_key(), now, rng));
          issued[i].cert_pem = cert.ToPem();
          issued[i].entry = IssuedEntry(cert);
        }
        issued[i].cert_pem += chain_pem;
        CTLS_ASSIGN_OR_RETURN(issued[i].key_pem, key.ToPem());
        return {};
      };
      if (auto r = one(); !r) {
        std::lock_guard lock(error_mu);
        if (!first_error && r.error().code == ErrorCode::kExpired) {
          first_error = r.error().WithContext(o.ca_cert);
        } else if (!first_error) {
          first_error = r.error().WithContext(o.in + ": instances[" + std::to_string(i) +
                                              "] (name \"" + inst.name + "\")");
        }
        failed.store(true);
        return;
      }
      progress.Advance();
    }
  };
  std::size_t threads = o.threads > 0 ? static_cast<std::size_t>(o.threads)
                                      : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min({threads, instances.size(), std::size_t{64}});
  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < threads; ++t) {
      pool.emplace_back(worker);
    }
    worker();
  }
  progress.Finish();
  if (first_error) {
    return *first_error;
  }

  OutputSet outputs;
  const std::string ca_pem = TopCa(issuer).ToPem();
  if (zip_out) {
    std::vector<ZipEntry> entries;
    entries.reserve(1 + 2 * instances.size());
    entries.push_back({.name = "ca/ca.crt", .data = ca_pem, .mode = core::kPublicFileMode});
    for (std::size_t i = 0; i < instances.size(); ++i) {
      entries.push_back({.name = member(instances[i].filename, ".crt"),
                         .data = std::move(issued[i].cert_pem),
                         .mode = core::kPublicFileMode});
      entries.push_back({.name = member(instances[i].filename, ".key"),
                         .data = std::move(issued[i].key_pem),
                         .mode = core::kPrivateFileMode});
    }
    CTLS_ASSIGN_OR_RETURN(std::string zip, BuildZip(entries));
    outputs.AddPrivate(o.out, std::move(zip));
  } else {
    outputs.AddPublic(JoinPath(o.out, "ca/ca.crt"), ca_pem);
    for (std::size_t i = 0; i < instances.size(); ++i) {
      outputs.AddPublic(JoinPath(o.out, member(instances[i].filename, ".crt")),
                        std::move(issued[i].cert_pem));
      outputs.AddPrivate(JoinPath(o.out, member(instances[i].filename, ".key")),
                         std::move(issued[i].key_pem));
    }
  }
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force, .owner = owner}));
  std::vector<OfflineIssued> entries;
  entries.reserve(issued.size());
  for (auto& one : issued) {
    entries.push_back(std::move(one.entry));
  }
  RecordIssued(o.ca_cert, issuer.certificate(), std::move(entries), ctx);
  ctx.Info("Issued " + std::to_string(instances.size()) + " certificates (" +
           pki::ProfileName(profile) + ", " + std::to_string(o.days) + " days) into " + o.out +
           ": ca/ca.crt and <filename>/<filename>.crt, <filename>/<filename>.key per instance");
  ctx.Info("CA SHA-256: " + TopCa(issuer).fingerprint().colon);
  if (owner) {
    ctx.Info("Owner: " + owner->spec + " (keys " + KeyModeNote(owner) + ")");
  }
  return 0;
}

void AddCaSourceOptions(CLI::App* cmd, std::string& ca_cert, std::string& ca_key,
                        std::string& ca_pass, bool required) {
  auto* c = cmd->add_option("--ca-cert", ca_cert,
                            "issuing CA certificate (PEM); when it also holds the chain above "
                            "the CA (intermediate + root, any order), the chain is appended to "
                            "each issued certificate");
  auto* k = cmd->add_option("--ca-key", ca_key, "the issuing CA's private key");
  cmd->add_option("--ca-passphrase-file", ca_pass,
                  "passphrase file of an encrypted --ca-key (whole content, one trailing "
                  "newline ignored)");
  if (required) {
    c->required();
    k->required();
  } else {
    c->needs(k);
    k->needs(c);
  }
}

}  // namespace

void AddCertCommands(CLI::App& app, Action* action) {
  CLI::App* cert = app.add_subcommand("cert", "issue certificates (one, Redis' set, or in bulk)");
  cert->require_subcommand(1);
  {
    auto o = std::make_shared<CertIssueOptions>();
    CLI::App* cmd = cert->add_subcommand(
        "issue",
        "issue one certificate and a fresh key from a CA, like `elasticsearch-certutil cert`.\n"
        "pem: DIR/N.crt (certificate then its chain) + DIR/N.key (0600); p12: DIR/N.p12;\n"
        "zip: DIR/N.zip with ca/ca.crt, N/N.crt, N/N.key (certutil --pem layout, never the CA "
        "key).\nThe name N is the common name and is always among the subject alt names.");
    AddCaSourceOptions(cmd, o->ca_cert, o->ca_key, o->ca_passphrase_file, true);
    cmd->add_option("--name", o->name,
                    "certificate name: common name and file name (letters, digits, . _ -)")
        ->required();
    AddSubjectOption(cmd, o->subject, "the certificate (a CN in it must be --name)");
    AddRepeated(cmd, "--dns", o->dns, "DNS subject alt name (wildcard: *.example.com)");
    AddRepeated(cmd, "--ip", o->ip, "IP subject alt name (IPv4 or IPv6)");
    AddRepeated(cmd, "--uri", o->uri, "URI subject alt name, e.g. spiffe://cluster/node1");
    AddRepeated(cmd, "--email", o->email, "e-mail subject alt name");
    cmd->add_option("--profile", o->profile,
                    "server (serverAuth), client (clientAuth) or peer (both) (default: server)")
        ->check(CLI::IsMember({"server", "client", "peer"}));
    cmd->add_option("--days", o->days,
                    "validity in days (default: 365; never beyond the CA's own validity)")
        ->check(CLI::Range(1, 36500));
    cmd->add_option("--key-type", o->key_type, KeyTypeHelp())->check(KeyTypeValidator());
    cmd->add_option("--out", o->out, "output directory (created if missing)")->required();
    cmd->add_option("--format", o->format, "pem, p12 or zip (default: pem)")
        ->check(CLI::IsMember({"pem", "p12", "zip"}));
    cmd->add_option("--p12-passphrase-file", o->p12_passphrase_file,
                    "passphrase of the PKCS#12 (required with --format p12; AES-256 + PBKDF2)");
    cmd->add_option("--key-passphrase-file", o->key_passphrase_file,
                    "encrypt N.key (pem, zip) as PKCS#8 with this passphrase (default: "
                    "unencrypted)");
    AddOwnerOption(cmd, o->owner);
    cmd->add_flag("--force", o->force, "overwrite existing output files");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunCertIssue(*o, ctx); };
    });
  }
  {
    auto o = std::make_shared<CertGenerateOptions>();
    CLI::App* cmd = cert->add_subcommand(
        "generate",
        "Redis Enterprise's generate_self_signed_certs.sh: for every FQDN the names fqdn,\n"
        "*.fqdn, internal.fqdn and *.internal.fqdn; peer profile (serverAuth + clientAuth);\n"
        "CN = the first FQDN; files DIR/<type>_cert.pem and DIR/<type>_key.pem (0600).\n"
        "Self-signed unless --ca-cert/--ca-key are given. Prints \"Self signed cert generated "
        "successfully\".");
    cmd->add_option("-f,--fqdn", o->fqdn,
                    "the cluster's FQDN(s), separated by spaces in one argument (\"a.example.com "
                    "b.example.com\") or repeated")
        ->required()
        ->allow_extra_args(false)
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cmd->add_option("-d,--days", o->days, "validity in days (default: 365)")
        ->check(CLI::Range(1, 36500));
    cmd->add_option("-t,--type", o->type,
                    "cm (admin console), api (REST API), proxy (database endpoint), syncer, "
                    "metrics, or all (default: all)")
        ->check(CLI::IsMember({"cm", "api", "proxy", "syncer", "metrics", "all"}));
    AddSubjectOption(cmd, o->subject, "every certificate (a CN in it must be the first --fqdn)");
    AddCaSourceOptions(cmd, o->ca_cert, o->ca_key, o->ca_passphrase_file, false);
    cmd->add_option("--out", o->out, "output directory (created if missing)")->required();
    cmd->add_option("--key-type", o->key_type, KeyTypeHelp())->check(KeyTypeValidator());
    AddOwnerOption(cmd, o->owner);
    cmd->add_flag("--force", o->force, "overwrite existing output files");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunCertGenerate(*o, ctx); };
    });
  }
  {
    auto o = std::make_shared<CertBulkOptions>();
    CLI::App* cmd = cert->add_subcommand(
        "bulk",
        "issue many certificates in one run from an elasticsearch-certutil instances.yml, its\n"
        "fields meaning what they mean to certutil:\n"
        "  instances:\n"
        "    - name: node1                      # subject CN=node1 (also a DNS name)\n"
        "      dns: [node1.example.com]\n"
        "      ip: [10.0.0.1]\n"
        "    - name: \"CN=node5,OU=IT,DC=example,DC=com\"  # a subject DN\n"
        "      filename: node5                  # file/folder name (default: name)\n"
        "      cn: [node5]                      # otherName SANs for Elasticsearch\n"
        "The whole file is validated before anything is issued. Output: DIR/ca/ca.crt,\n"
        "DIR/<filename>/<filename>.crt (with chain), DIR/<filename>/<filename>.key, or the same\n"
        "layout in one zip when --out ends in .zip. Shows a progress bar when stderr is a "
        "terminal.");
    cmd->add_option("--in", o->in, "the instances.yml file")->required();
    AddCaSourceOptions(cmd, o->ca_cert, o->ca_key, o->ca_passphrase_file, true);
    cmd->add_option("--out", o->out, "output directory, or a FILE.zip")->required();
    cmd->add_option("--days", o->days, "validity in days (default: 365)")
        ->check(CLI::Range(1, 36500));
    cmd->add_option("--key-type", o->key_type, KeyTypeHelp())->check(KeyTypeValidator());
    cmd->add_option("--profile", o->profile, "server, client or peer (default: server)")
        ->check(CLI::IsMember({"server", "client", "peer"}));
    cmd->add_option("--threads", o->threads, "worker threads (default: one per core)")
        ->check(CLI::Range(1, 64));
    AddOwnerOption(cmd, o->owner);
    cmd->add_flag("--force", o->force, "overwrite existing output files");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunCertBulk(*o, ctx); };
    });
  }
}

}  // namespace clustertls::cli
