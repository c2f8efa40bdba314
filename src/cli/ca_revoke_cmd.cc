// `clustertls ca revoke` and `clustertls ca crl`: easy-rsa's `revoke` and `gen-crl` for a CA
// made by `ca init`, `ca intermediate` or `quickstart`, with no control plane. The revocation
// list and the CRL counter live in the CA's directory (cli/offline_ca.h); the CRL is signed by
// pki::BuildCrl, as serve's CrlPublisher signs its own.
#include <memory>
#include <optional>

#include "authority/revocation.h"
#include "cli/common.h"
#include "cli/offline_ca.h"
#include "cli/output.h"
#include "cli/revoke_args.h"
#include "core/files.h"
#include "pki/chain.h"
#include "pki/crl.h"
#include "pki/crl_builder.h"

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;

// Where the CA's files are: --ca-dir DIR (DIR/ca.crt, DIR/ca.key), or --ca-cert/--ca-key with
// the revocation state in the directory of --ca-cert.
struct CaLocation {
  std::string ca_dir;
  std::string ca_cert;
  std::string ca_key;
  std::string ca_passphrase_file;
};

struct CaPaths {
  std::string cert;
  std::string key;
  std::string dir;  // where revoked.json and crlnumber are
};

core::Result<CaPaths> ResolveCa(const CaLocation& l, bool need_key) {
  const bool by_files = !l.ca_cert.empty() || !l.ca_key.empty();
  if (!l.ca_dir.empty() && by_files) {
    return UsageError("give --ca-dir DIR or --ca-cert/--ca-key, not both");
  }
  if (l.ca_dir.empty() && !by_files) {
    return UsageError(
        "which CA? give --ca-dir DIR (holding ca.crt and ca.key, as `ca init --out "
        "DIR` and `quickstart --out D` (D/ca) write them) or --ca-cert/--ca-key");
  }
  if (!l.ca_dir.empty()) {
    CaPaths p{
        .cert = JoinPath(l.ca_dir, "ca.crt"), .key = JoinPath(l.ca_dir, "ca.key"), .dir = l.ca_dir};
    if (!core::PathExists(p.cert) && core::PathExists(JoinPath(l.ca_dir, "ca/ca.crt"))) {
      return Fail(ErrorCode::kNotFound, p.cert + ": no such file; " + l.ca_dir +
                                            " looks like a quickstart directory, whose CA is "
                                            "--ca-dir " +
                                            JoinPath(l.ca_dir, "ca"));
    }
    return p;
  }
  if (l.ca_cert.empty()) {
    return UsageError("--ca-key needs --ca-cert (the CA certificate)");
  }
  if (need_key && l.ca_key.empty()) {
    return UsageError("--ca-cert needs --ca-key: the CRL is signed with the CA's key");
  }
  return CaPaths{.cert = l.ca_cert, .key = l.ca_key, .dir = CaStateDir(l.ca_cert)};
}

// The CA certificate of a file holding it alone or with the chain above it (chain.crt).
core::Result<pki::Certificate> LoadCaCertificate(const std::string& path) {
  CTLS_ASSIGN_OR_RETURN(auto certs, LoadCertificates(path));
  pki::Certificate ca = certs.front();
  if (certs.size() > 1) {
    pki::ChainOrder order = pki::OrderChain(certs);
    if (order.ordered.size() != certs.size()) {
      return Fail(ErrorCode::kChainIncomplete, path + ": the certificates do not form one chain");
    }
    ca = order.ordered.front();
  }
  if (!ca.is_ca()) {
    return Fail(ErrorCode::kNotCa, path + ": \"" + ca.subject() + "\" is not a CA certificate");
  }
  return ca;
}

// Reads DIR/revoked.json (an empty list for this CA when there is none).
core::Result<OfflineRevocationList> ReadRevocationList(const std::string& path,
                                                       const pki::Certificate& ca) {
  if (!core::PathExists(path)) {
    return EmptyRevocationList(ca);
  }
  CTLS_ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
  return ParseRevocationList(text, path, ca);
}

std::string Describe(const OfflineRevoked& r) {
  return r.serial + " (" + pki::RevocationReasonName(r.reason) + ") at " +
         core::FormatTime(r.revoked_at) + (r.subject.empty() ? "" : ", " + r.subject);
}

// ---------------------------------------------------------------------------------------------
// ca revoke

struct CaRevokeOptions {
  CaLocation ca;
  std::string target;
  std::string reason;
  bool unrecorded = false;
};

// Reads DIR/issued.json (an empty list for this CA when there is none).
core::Result<OfflineIssuedList> ReadIssuedList(const std::string& path,
                                               const pki::Certificate& ca) {
  if (!core::PathExists(path)) {
    return EmptyIssuedList(ca);
  }
  CTLS_ASSIGN_OR_RETURN(std::string text, core::ReadFile(path));
  return ParseIssuedList(text, path, ca);
}

core::Result<int> RunCaRevoke(const CaRevokeOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(CaPaths paths, ResolveCa(o.ca, /*need_key=*/false));
  auto reason_name = authority::CanonicalRevocationReason(o.reason);
  if (!reason_name) {
    return UsageError("--" + reason_name.error().message);
  }
  CTLS_ASSIGN_OR_RETURN(pki::RevocationReason reason, pki::ParseRevocationReason(*reason_name));

  // SERIAL or CERT-FILE: an existing path is a certificate file.
  std::string serial;
  std::string subject;
  std::optional<pki::Certificate> cert;
  if (core::PathExists(o.target)) {
    if (o.unrecorded) {
      return UsageError("--unrecorded is for a SERIAL: a certificate file (" + o.target +
                        ") is checked against the CA's key instead");
    }
    CTLS_ASSIGN_OR_RETURN(auto certs, LoadCertificates(o.target));
    cert = certs.front();  // the leaf of a leaf + chain file
    CTLS_ASSIGN_OR_RETURN(serial, CanonicalSerialHex(cert->serial_hex()));
    subject = cert->subject();
  } else {
    auto normalized = NormalizeSerialArgument(o.target);
    if (!normalized) {
      return UsageError("\"" + o.target.substr(0, 80) +
                        "\": no such certificate file, and not a serial (hex, as `openssl x509 "
                        "-noout -serial` prints it)");
    }
    CTLS_ASSIGN_OR_RETURN(serial, CanonicalSerialHex(*normalized));
  }
  CTLS_ASSIGN_OR_RETURN(pki::Certificate ca, LoadCaCertificate(paths.cert));
  CTLS_ASSIGN_OR_RETURN(std::string ca_serial, CanonicalSerialHex(ca.serial_hex()));
  if (cert && cert->Equals(ca)) {
    return Fail(ErrorCode::kInvalidArgument,
                o.target +
                    ": is the CA certificate itself; a CA is not listed in its own CRL "
                    "(nothing revoked)");
  }
  if (cert && cert->issuer() != ca.subject()) {
    return Fail(ErrorCode::kInvalidArgument, o.target + ": issued by \"" + cert->issuer() +
                                                 "\", not by this CA \"" + ca.subject() + "\" (" +
                                                 paths.cert + "); nothing revoked");
  }
  if (cert && !cert->IsSignedBy(ca)) {
    return Fail(ErrorCode::kInvalidArgument,
                o.target + ": issued by another CA named \"" + cert->issuer() +
                    "\" (its signature does not verify with the key of " + paths.cert +
                    "); nothing revoked");
  }
  if (!cert && serial == ca_serial) {
    return Fail(ErrorCode::kInvalidArgument,
                "serial " + serial + " is the CA certificate's own (" + paths.cert +
                    "); a CA is not listed in its own CRL (nothing revoked)");
  }

  CTLS_ASSIGN_OR_RETURN(core::DirectoryLock lock, core::DirectoryLock::Acquire(paths.dir));
  const std::string list_path = JoinPath(paths.dir, kRevokedFileName);
  CTLS_ASSIGN_OR_RETURN(OfflineRevocationList list, ReadRevocationList(list_path, ca));
  if (const OfflineRevoked* known = list.Find(serial)) {
    ctx.out << "already revoked " << Describe(*known) << "; nothing changed\n";
    return 0;
  }
  // A bare serial must be one this CA issued (DIR/issued.json): a mistyped serial would
  // otherwise be "revoked" while the certificate meant stays trusted.
  std::string issued_to;
  if (!cert) {
    const std::string issued_path = JoinPath(paths.dir, kIssuedFileName);
    CTLS_ASSIGN_OR_RETURN(OfflineIssuedList issued, ReadIssuedList(issued_path, ca));
    if (const OfflineIssued* entry = issued.Find(serial)) {
      issued_to = entry->common_name;
    } else if (!o.unrecorded) {
      return Fail(ErrorCode::kNotFound,
                  "serial " + serial + ": not a certificate of this CA: " + issued_path +
                      " lists the " + std::to_string(issued.issued.size()) +
                      " it issued. Check the serial, or give the certificate file; --unrecorded "
                      "revokes a serial issued without clustertls recording it (nothing revoked)");
    }
  }
  list.revoked.push_back(OfflineRevoked{
      .serial = serial, .revoked_at = ctx.clock.Now(), .reason = reason, .subject = subject});
  CTLS_RETURN_IF_ERROR(core::WriteFileAtomic(list_path, FormatRevocationList(list),
                                             {.mode = core::kPublicFileMode, .overwrite = true}));
  ctx.out << "revoked " << Describe(list.revoked.back())
          << (issued_to.empty() ? "" : ", issued to " + issued_to)
          << (!cert && issued_to.empty() && o.unrecorded ? " (unrecorded)" : "") << '\n';
  const std::string where =
      o.ca.ca_dir.empty() ? "--ca-cert " + paths.cert + " --ca-key KEY" : "--ca-dir " + paths.dir;
  ctx.Info("Recorded in " + list_path + " (" + std::to_string(list.revoked.size()) +
           " revoked). Clients learn of it from a new CRL: clustertls ca crl " + where + " --out " +
           JoinPath(paths.dir, "crl.pem") + " --force");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// ca crl

struct CaCrlOptions {
  CaLocation ca;
  std::string out;
  int days = 180;
  bool der = false;
  bool pem = false;
  bool force = false;
};

core::Result<int> RunCaCrl(const CaCrlOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(CaPaths paths, ResolveCa(o.ca, /*need_key=*/true));
  {
    OutputSet planned;
    planned.AddPublic(o.out, "");
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  }
  CTLS_ASSIGN_OR_RETURN(pki::Issuer issuer,
                        LoadIssuer(paths.cert, paths.key, o.ca.ca_passphrase_file));
  const pki::Certificate& ca = issuer.certificate();
  const core::TimePoint now = ctx.clock.Now();
  if (now >= ca.not_after()) {
    return Fail(ErrorCode::kExpired, paths.cert + ": the CA expired at " +
                                         core::FormatTime(ca.not_after()) +
                                         "; its clients refuse it, and any CRL it signs");
  }
  core::TimePoint next_update = now + std::chrono::days(o.days);
  const bool capped = next_update > ca.not_after();
  if (capped) {
    next_update = ca.not_after();
  }

  CTLS_ASSIGN_OR_RETURN(core::DirectoryLock lock, core::DirectoryLock::Acquire(paths.dir));
  const std::string list_path = JoinPath(paths.dir, kRevokedFileName);
  CTLS_ASSIGN_OR_RETURN(OfflineRevocationList list, ReadRevocationList(list_path, ca));
  const std::string number_path = JoinPath(paths.dir, kCrlNumberFileName);
  std::int64_t number = 1;
  if (core::PathExists(number_path)) {
    CTLS_ASSIGN_OR_RETURN(std::string text, core::ReadFile(number_path, 1024));
    CTLS_ASSIGN_OR_RETURN(number, ParseCrlNumber(text, number_path));
  }
  std::vector<pki::CrlEntry> entries;
  entries.reserve(list.revoked.size());
  for (const auto& r : list.revoked) {
    entries.push_back({.serial_hex = r.serial, .revoked_at = r.revoked_at, .reason = r.reason});
  }
  // RFC 5280 section 5.2.3: the cRLNumber increases with every CRL the CA issues.
  CTLS_ASSIGN_OR_RETURN(
      std::string der,
      pki::BuildCrl(ca, issuer.key(), entries,
                    {.this_update = now, .next_update = next_update, .crl_number = number}));
  std::string data = der;
  if (!o.der) {
    CTLS_ASSIGN_OR_RETURN(pki::Crl crl, pki::Crl::Parse(der));
    data = crl.ToPem();
  }
  // The CRL and the next number together: both or neither.
  OutputSet outputs;
  outputs.AddPublic(o.out, std::move(data));
  outputs.Add({.path = number_path,
               .data = FormatCrlNumber(number + 1),
               .mode = core::kPublicFileMode,
               .replace = true});
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force}));

  ctx.out << "CRL " << number << " of " << ca.subject() << ": " << list.revoked.size()
          << " revoked, next update " << core::FormatTime(next_update) << ", written to " << o.out
          << (o.der ? " (DER)" : " (PEM)") << '\n';
  if (capped) {
    ctx.Warn("nextUpdate is the CA's notAfter " + core::FormatTime(ca.not_after()) +
             ", sooner "
             "than --days " +
             std::to_string(o.days) + ": a CRL does not outlive its CA");
  }
  ctx.Info("Sign a new one before " + core::FormatTime(next_update) +
           ": clients that check CRLs (nginx ssl_crl, RabbitMQ crl_check) refuse every "
           "certificate once it has expired");
  return 0;
}

void AddCaLocationOptions(CLI::App* cmd, CaLocation& l, bool with_key) {
  auto* dir = cmd->add_option("--ca-dir", l.ca_dir,
                              "the CA's directory: DIR/ca.crt" +
                                  std::string(with_key ? ", DIR/ca.key" : "") +
                                  ", and the revocation list DIR/revoked.json (`ca init --out "
                                  "DIR`; `quickstart --out D` makes D/ca)");
  auto* cert = cmd->add_option("--ca-cert", l.ca_cert,
                               "instead of --ca-dir: the CA certificate (may hold the chain "
                               "above it); revoked.json and crlnumber are kept in its directory");
  cert->excludes(dir);
  if (with_key) {
    auto* key = cmd->add_option("--ca-key", l.ca_key, "with --ca-cert: the CA's private key");
    key->excludes(dir);
    cmd->add_option("--ca-passphrase-file", l.ca_passphrase_file,
                    "passphrase file of an encrypted CA key (whole content, one trailing newline "
                    "ignored)");
  }
}

}  // namespace

void AddCaRevocationCommands(CLI::App* ca, Action* action) {
  {
    auto o = std::make_shared<CaRevokeOptions>();
    CLI::App* cmd = ca->add_subcommand(
        "revoke",
        "record that a certificate of an offline CA is revoked, like easy-rsa's `revoke`: the\n"
        "serial, the time and the reason go into DIR/revoked.json (0644; the CA key is not\n"
        "read). Clients see it in the next `clustertls ca crl`. Revoking twice changes nothing\n"
        "(the first time and reason are kept); the CA's own serial is refused. A CERT-FILE is\n"
        "checked to be issued by this CA (its signature); a SERIAL must be listed in\n"
        "DIR/issued.json, where every issuing command (quickstart, cert issue/generate/bulk,\n"
        "csr sign, ca intermediate) records what it signed with that CA.");
    cmd->add_option("TARGET", o->target,
                    "the certificate file (PEM or DER; the first certificate of a bundle), or "
                    "its SERIAL in hex as `openssl x509 -noout -serial` prints it")
        ->required();
    AddCaLocationOptions(cmd, o->ca, /*with_key=*/false);
    cmd->add_option("--reason", o->reason,
                    "RFC 5280 reason (default: unspecified; easy-rsa's names work too): " +
                        RevocationReasonList());
    cmd->add_flag("--unrecorded", o->unrecorded,
                  "revoke a SERIAL that DIR/issued.json does not list: one issued before "
                  "clustertls recorded certificates, by another tool with this CA's key, or "
                  "whose record could not be written");
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunCaRevoke(*o, ctx); }; });
  }
  {
    auto o = std::make_shared<CaCrlOptions>();
    CLI::App* cmd = ca->add_subcommand(
        "crl",
        "sign a CRL of an offline CA, like easy-rsa's `gen-crl`: every certificate `ca revoke`\n"
        "recorded, with its time and reason, for nginx's ssl_crl, RabbitMQ's crl_check,\n"
        "`openssl verify -crl_check`. The CRL number comes from DIR/crlnumber (as `openssl ca`\n"
        "keeps it) and increases with every CRL. nextUpdate is now + --days, never beyond the\n"
        "CA's notAfter; sign a new CRL before then. Written atomically, 0644.");
    AddCaLocationOptions(cmd, o->ca, /*with_key=*/true);
    cmd->add_option("--out", o->out, "the CRL file to write")->required();
    cmd->add_option("--days", o->days,
                    "nextUpdate in days from now (default: 180, as easy-rsa's EASYRSA_CRL_DAYS)")
        ->check(CLI::Range(1, 36500));
    auto* pem = cmd->add_flag("--pem", o->pem, "write PEM (the default; what nginx reads)");
    cmd->add_flag("--der", o->der, "write DER instead of PEM")->excludes(pem);
    cmd->add_flag("--force", o->force, "replace an existing --out file");
    cmd->callback([o, action] { *action = [o](Context& ctx) { return RunCaCrl(*o, ctx); }; });
  }
}

}  // namespace clustertls::cli
