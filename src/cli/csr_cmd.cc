// `clustertls csr create` and `clustertls csr sign` (the openssl req / x509 -req steps).
#include <sys/stat.h>

#include <memory>

#include "cli/common.h"
#include "cli/instances.h"
#include "cli/offline_ca.h"
#include "cli/output.h"
#include "cli/summary.h"
#include "pki/csr.h"

namespace clustertls::cli {
namespace {

struct CsrCreateOptions {
  std::string name;
  std::string subject;
  std::vector<std::string> dns;
  std::vector<std::string> ip;
  std::vector<std::string> uri;
  std::vector<std::string> email;
  std::string key_type = "ec-p256";
  std::string key;
  std::string key_passphrase_file;
  std::string out;
  std::string owner;
  bool force = false;
};

core::Result<int> RunCsrCreate(const CsrCreateOptions& o, Context& ctx) {
  CTLS_RETURN_IF_ERROR(CheckFileName("--name", o.name));
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  CTLS_ASSIGN_OR_RETURN(pki::SubjectAttributes subject,
                        SubjectAttributesOption(o.subject, o.name, "--name"));
  const std::string csr_path = JoinPath(o.out, o.name + ".csr");
  const std::string key_path = JoinPath(o.out, o.name + ".key");
  const bool new_key = o.key.empty();
  {
    OutputSet planned;
    planned.AddPublic(csr_path, "");
    if (new_key) {
      planned.AddPrivate(key_path, "");
    }
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  }
  std::optional<pki::PrivateKey> key;
  std::optional<std::string> pass;
  if (new_key) {
    CTLS_ASSIGN_OR_RETURN(pass, ReadOptionalPassphrase(o.key_passphrase_file));
    CTLS_ASSIGN_OR_RETURN(pki::KeyType type, pki::ParseKeyType(o.key_type));
    CTLS_ASSIGN_OR_RETURN(key, pki::PrivateKey::Generate(type));
  } else {
    CTLS_ASSIGN_OR_RETURN(key, LoadPrivateKey(o.key, o.key_passphrase_file,
                                              "--key-passphrase-file"));
  }
  pki::CsrOptions options{
      .common_name = o.name,
      .subject_extra = std::move(subject),
      .sans = {.dns = o.dns, .ips = o.ip, .uris = o.uri, .emails = o.email},
  };
  CTLS_ASSIGN_OR_RETURN(pki::Csr csr, pki::Csr::Create(*key, options));
  OutputSet outputs;
  outputs.AddPublic(csr_path, csr.ToPem());
  if (new_key) {
    CTLS_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(*key, pass));
    outputs.AddPrivate(key_path, std::move(key_pem));
  }
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force, .owner = owner}));
  ctx.Info("CSR:                 " + csr_path);
  ctx.Info("  Subject:           " + csr.subject());
  std::string sans = JoinSans(csr.sans());
  if (!sans.empty()) {
    ctx.Info("  Names:             " + sans);
  }
  ctx.Info(
      "  Key:               " + key->Describe() +
      (new_key ? " in " + key_path + (pass ? " (encrypted PKCS#8)" : "") + ", " + KeyModeNote(owner)
               : " from " + o.key));
  ctx.Info("Sign with: clustertls csr sign --csr " + csr_path +
           " --ca-cert ca.crt --ca-key ca.key --out " + JoinPath(o.out, o.name + ".crt"));
  return 0;
}

struct CsrSignOptions {
  std::string csr;
  std::string ca_cert;
  std::string ca_key;
  std::string ca_passphrase_file;
  std::string profile = "server";
  int days = 365;
  std::vector<std::string> dns;
  std::vector<std::string> ip;
  std::string out;
  bool force = false;
};

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

core::Result<int> RunCsrSign(const CsrSignOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(pki::Profile profile, pki::ParseProfile(o.profile));
  CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(o.csr));
  auto parsed = pki::Csr::Parse(data);
  if (!parsed) {
    return parsed.error().WithContext(o.csr);
  }
  const pki::Csr& csr = *parsed;
  std::string out_path = o.out;
  if (IsDirectory(o.out) || o.out.ends_with('/')) {
    std::string cn = csr.common_name();
    if (!IsSafeFileName(cn)) {
      return UsageError("--out " + o.out + " is a directory and the CSR's common name \"" + cn +
                        "\" cannot name a file: give --out a file path");
    }
    out_path = JoinPath(o.out, cn + ".crt");
  }
  {
    OutputSet planned;
    planned.AddPublic(out_path, "");
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  }
  CTLS_ASSIGN_OR_RETURN(pki::Issuer issuer, LoadIssuer(o.ca_cert, o.ca_key, o.ca_passphrase_file));
  const core::TimePoint now = ctx.clock.Now();
  pki::IssueRequest request{
      .profile = profile,
      .sans = {.dns = o.dns, .ips = o.ip},
      .validity = std::chrono::days(o.days),
  };
  auto cert = issuer.IssueFromCsr(csr, request, now, ctx.rng);
  if (!cert) {
    if (cert.error().code == core::ErrorCode::kInvalidName) {
      return cert.error().WithContext(o.csr);
    }
    return IssuerErrorContext(cert.error(), o.ca_cert);
  }
  OutputSet outputs;
  outputs.AddPublic(out_path, LeafWithChainPem(*cert, issuer));
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force}));
  RecordIssued(o.ca_cert, issuer.certificate(), {IssuedEntry(*cert)}, ctx);
  PrintCertificateSummary(ctx, std::string("Certificate (") + pki::ProfileName(profile) + ")",
                          *cert, out_path, now);
  return 0;
}

}  // namespace

void AddCsrCommands(CLI::App& app, Action* action) {
  CLI::App* csr = app.add_subcommand(
      "csr", "certificate signing requests (openssl req -new / openssl x509 -req)");
  csr->require_subcommand(1);
  {
    auto o = std::make_shared<CsrCreateOptions>();
    CLI::App* cmd = csr->add_subcommand(
        "create",
        "create a PKCS#10 CSR: DIR/N.csr and a new key DIR/N.key (0600), or a CSR for an\n"
        "existing key given with --key (then no key file is written). Like `openssl req -new`.");
    cmd->add_option("--name", o->name,
                    "common name and file name (letters, digits, . _ -); also requested as a SAN")
        ->required();
    AddSubjectOption(cmd, o->subject, "the request (a CN in it must be --name)");
    AddRepeated(cmd, "--dns", o->dns, "requested DNS subject alt name");
    AddRepeated(cmd, "--ip", o->ip, "requested IP subject alt name");
    AddRepeated(cmd, "--uri", o->uri, "requested URI subject alt name");
    AddRepeated(cmd, "--email", o->email, "requested e-mail subject alt name");
    cmd->add_option("--key-type", o->key_type, KeyTypeHelp() + "; ignored with --key")
        ->check(KeyTypeValidator());
    cmd->add_option("--key", o->key, "use this existing private key instead of a new one");
    cmd->add_option("--key-passphrase-file", o->key_passphrase_file,
                    "passphrase file: decrypts --key, or encrypts the new N.key (PKCS#8, "
                    "AES-256); whole content, one trailing newline ignored");
    cmd->add_option("--out", o->out, "output directory (created if missing)")->required();
    AddOwnerOption(cmd, o->owner);
    cmd->add_flag("--force", o->force, "overwrite existing output files");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunCsrCreate(*o, ctx); };
    });
  }
  {
    auto o = std::make_shared<CsrSignOptions>();
    CLI::App* cmd = csr->add_subcommand(
        "sign",
        "issue a certificate for a CSR (like `openssl x509 -req -CA ...`, but safe): the CSR's\n"
        "signature is verified, only its subject (CN, C, ST, L, O, OU) and names are used\n"
        "(re-validated); every extension comes from --profile. Writes the certificate followed\n"
        "by the CA chain.");
    cmd->add_option("--csr", o->csr, "the CSR (PEM or DER)")->required();
    cmd->add_option("--ca-cert", o->ca_cert,
                    "issuing CA certificate (PEM; may also hold the chain above it)")
        ->required();
    cmd->add_option("--ca-key", o->ca_key, "the issuing CA's private key")->required();
    cmd->add_option("--ca-passphrase-file", o->ca_passphrase_file,
                    "passphrase file of an encrypted --ca-key");
    cmd->add_option("--profile", o->profile,
                    "server, client, peer, intermediate-ca or ocsp-signer (default: server)")
        ->check(CLI::IsMember({"server", "client", "peer", "intermediate-ca", "ocsp-signer"}));
    cmd->add_option("--days", o->days,
                    "validity in days (default: 365; never beyond the CA's own validity)")
        ->check(CLI::Range(1, 36500));
    AddRepeated(cmd, "--dns", o->dns, "extra DNS subject alt name to add");
    AddRepeated(cmd, "--ip", o->ip, "extra IP subject alt name to add");
    cmd->add_option("--out", o->out,
                    "output certificate file, or a directory (then DIR/<CN>.crt)")
        ->required();
    cmd->add_flag("--force", o->force, "overwrite an existing output file");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunCsrSign(*o, ctx); };
    });
  }
}

}  // namespace clustertls::cli
