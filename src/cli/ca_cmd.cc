// `clustertls ca init` and `clustertls ca intermediate`.
#include <memory>

#include "cli/common.h"
#include "cli/offline_ca.h"
#include "cli/output.h"
#include "cli/summary.h"

namespace clustertls::cli {
namespace {

struct CaInitOptions {
  std::string out;
  std::string name = "clustertls CA";
  std::string key_type = "ec-p256";
  int days = 3650;
  std::string passphrase_file;
  std::string owner;
  bool force = false;
};

core::Result<int> RunCaInit(const CaInitOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  OutputSet outputs;
  const std::string cert_path = JoinPath(o.out, "ca.crt");
  const std::string key_path = JoinPath(o.out, "ca.key");
  outputs.AddPublic(cert_path, "");
  outputs.AddPrivate(key_path, "");
  CTLS_RETURN_IF_ERROR(outputs.Check(o.force));
  CTLS_ASSIGN_OR_RETURN(auto passphrase, ReadOptionalPassphrase(o.passphrase_file));
  CTLS_ASSIGN_OR_RETURN(pki::KeyType type, pki::ParseKeyType(o.key_type));
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(type));
  const core::TimePoint now = ctx.clock.Now();
  pki::IssueRequest request{.profile = pki::Profile::kRootCa,
                            .common_name = o.name,
                            .validity = std::chrono::days(o.days)};
  CTLS_ASSIGN_OR_RETURN(pki::Certificate cert, pki::SelfSign(key, request, now, ctx.rng));
  CTLS_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(key, passphrase));

  OutputSet final_outputs;
  final_outputs.AddPublic(cert_path, cert.ToPem());
  final_outputs.AddPrivate(key_path, std::move(key_pem));
  CTLS_RETURN_IF_ERROR(final_outputs.Commit({.force = o.force, .owner = owner}));

  if (!passphrase) {
    ctx.Warn(key_path +
             " is not encrypted; protect it, or re-run with --passphrase-file to encrypt it");
  }
  PrintCertificateSummary(ctx, "CA certificate", cert, cert_path, now);
  ctx.Info(std::string("CA key:              ") + key_path + " (" + key.Describe() +
           (passphrase ? ", encrypted PKCS#8" : ", NOT encrypted") + ", " + KeyModeNote(owner) +
           ")");
  return 0;
}

struct CaIntermediateOptions {
  std::string ca_cert;
  std::string ca_key;
  std::string ca_passphrase_file;
  std::string out;
  std::string name = "clustertls Intermediate CA";
  int path_len = 0;
  std::vector<std::string> permitted_dns;
  std::vector<std::string> excluded_dns;
  std::vector<std::string> permitted_ip;
  std::vector<std::string> excluded_ip;
  int days = 1825;
  std::string key_type = "ec-p256";
  std::string passphrase_file;
  std::string owner;
  bool force = false;
};

core::Result<int> RunCaIntermediate(const CaIntermediateOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  const std::string cert_path = JoinPath(o.out, "ca.crt");
  const std::string chain_path = JoinPath(o.out, "chain.crt");
  const std::string key_path = JoinPath(o.out, "ca.key");
  {
    OutputSet planned;
    planned.AddPublic(cert_path, "");
    planned.AddPublic(chain_path, "");
    planned.AddPrivate(key_path, "");
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  }
  CTLS_ASSIGN_OR_RETURN(pki::Issuer issuer, LoadIssuer(o.ca_cert, o.ca_key, o.ca_passphrase_file));
  CTLS_ASSIGN_OR_RETURN(auto passphrase, ReadOptionalPassphrase(o.passphrase_file));
  CTLS_ASSIGN_OR_RETURN(pki::KeyType type, pki::ParseKeyType(o.key_type));
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, pki::PrivateKey::Generate(type));
  const core::TimePoint now = ctx.clock.Now();
  pki::IssueRequest request{
      .profile = pki::Profile::kIntermediateCa,
      .common_name = o.name,
      .validity = std::chrono::days(o.days),
      .path_len = o.path_len,
      .name_constraints = {.permitted_dns = o.permitted_dns,
                           .excluded_dns = o.excluded_dns,
                           .permitted_ip = o.permitted_ip,
                           .excluded_ip = o.excluded_ip},
  };
  CTLS_ASSIGN_OR_RETURN(pki::Certificate cert,
                        IssueNaming(issuer, o.ca_cert, request, key.public_key(), now, ctx.rng));
  CTLS_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(key, passphrase));

  OutputSet outputs;
  outputs.AddPublic(cert_path, cert.ToPem());
  outputs.AddPublic(chain_path, LeafWithChainPem(cert, issuer));
  outputs.AddPrivate(key_path, std::move(key_pem));
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force, .owner = owner}));
  RecordIssued(o.ca_cert, issuer.certificate(), {IssuedEntry(cert)}, ctx);

  if (!passphrase) {
    ctx.Warn(key_path +
             " is not encrypted; protect it, or re-run with --passphrase-file to encrypt it");
  }
  PrintCertificateSummary(ctx, "Intermediate CA", cert, cert_path, now);
  ctx.Info("Chain:               " + chain_path + " (intermediate, then its issuers)");
  ctx.Info(std::string("CA key:              ") + key_path + " (" + key.Describe() +
           (passphrase ? ", encrypted PKCS#8" : ", NOT encrypted") + ", " + KeyModeNote(owner) +
           ")");
  ctx.Info("Issue with: clustertls cert issue --ca-cert " + chain_path + " --ca-key " + key_path +
           " ...");
  return 0;
}

}  // namespace

void AddCaCommands(CLI::App& app, Action* action) {
  CLI::App* ca = app.add_subcommand(
      "ca",
      "certificate authorities: create (root, intermediate), revoke what they issued, sign their "
      "CRLs");
  ca->require_subcommand(1);

  {
    auto o = std::make_shared<CaInitOptions>();
    CLI::App* cmd = ca->add_subcommand(
        "init",
        "create a self-signed root CA: DIR/ca.crt (0644) and DIR/ca.key (0600).\n"
        "Like `elasticsearch-certutil ca --pem`. Prints the subject, paths and the SHA-256\n"
        "fingerprint in colon form and in the plain hex form Elastic's ca_trusted_fingerprint "
        "takes.");
    cmd->add_option("--out", o->out, "output directory (created if missing)")->required();
    cmd->add_option("--name", o->name, "the CA's common name (default: \"clustertls CA\")");
    cmd->add_option("--key-type", o->key_type, KeyTypeHelp())->check(KeyTypeValidator());
    cmd->add_option("--days", o->days, "validity in days (default: 3650)")
        ->check(CLI::Range(1, 36500));
    cmd->add_option("--passphrase-file", o->passphrase_file,
                    "encrypt ca.key (PKCS#8, AES-256, PBKDF2) with the passphrase in this file: "
                    "its whole content, one trailing newline ignored. Without it the key is "
                    "written unencrypted and a warning is printed");
    AddOwnerOption(cmd, o->owner);
    cmd->add_flag("--force", o->force, "overwrite existing ca.crt / ca.key");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunCaInit(*o, ctx); };
    });
  }
  {
    auto o = std::make_shared<CaIntermediateOptions>();
    CLI::App* cmd = ca->add_subcommand(
        "intermediate",
        "create an intermediate CA signed by an existing CA: DIR/ca.crt (the intermediate),\n"
        "DIR/chain.crt (intermediate then its issuers) and DIR/ca.key (0600).");
    cmd->add_option("--ca-cert", o->ca_cert,
                    "issuing CA certificate (PEM; may also hold the chain above it)")
        ->required();
    cmd->add_option("--ca-key", o->ca_key, "issuing CA private key")
        ->required();
    cmd->add_option("--ca-passphrase-file", o->ca_passphrase_file,
                    "passphrase file of an encrypted --ca-key (whole content, one trailing "
                    "newline ignored)");
    cmd->add_option("--out", o->out, "output directory (created if missing)")->required();
    cmd->add_option("--name", o->name,
                    "the intermediate's common name (default: \"clustertls Intermediate CA\")");
    cmd->add_option("--path-len", o->path_len,
                    "pathLenConstraint: how many CAs may follow below it (default: 0, it issues "
                    "only leaf certificates)")
        ->check(CLI::Range(0, 16));
    AddRepeated(cmd, "--permitted-dns", o->permitted_dns,
                "name constraint: DNS subtree the CA may issue for, e.g. example.com");
    AddRepeated(cmd, "--excluded-dns", o->excluded_dns,
                "name constraint: DNS subtree the CA may not issue for");
    AddRepeated(cmd, "--permitted-ip", o->permitted_ip,
                "name constraint: IP range (CIDR) the CA may issue for, e.g. 10.0.0.0/8");
    AddRepeated(cmd, "--excluded-ip", o->excluded_ip,
                "name constraint: IP range (CIDR) the CA may not issue for");
    cmd->add_option("--days", o->days,
                    "validity in days (default: 1825; never beyond the issuing CA's)")
        ->check(CLI::Range(1, 36500));
    cmd->add_option("--key-type", o->key_type, KeyTypeHelp())->check(KeyTypeValidator());
    cmd->add_option("--passphrase-file", o->passphrase_file,
                    "encrypt the new ca.key with the passphrase in this file (recommended)");
    AddOwnerOption(cmd, o->owner);
    cmd->add_flag("--force", o->force, "overwrite existing output files");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunCaIntermediate(*o, ctx); };
    });
  }
  AddCaRevocationCommands(ca, action);
}

}  // namespace clustertls::cli
