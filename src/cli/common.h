#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/files.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "pki/certificate.h"
#include "pki/issuer.h"
#include "pki/key.h"

namespace clustertls::cli {

// What a command runs with: output streams, the clock and the randomness (injected so the
// command logic does not reach for globals).
struct Context {
  std::ostream& out;
  std::ostream& err;
  const core::Clock& clock;
  core::Rng& rng;
  bool quiet = false;       // --quiet: no informational lines (data output and errors remain)
  bool stderr_tty = false;  // progress bars only on a terminal

  // An informational line on stdout (suppressed by --quiet).
  void Info(const std::string& line) const;
  // "clustertls: warning: <line>" on stderr.
  void Warn(const std::string& line) const;
};

// A parsed command, ready to run; returns its exit code (0, or 1 for a negative answer such as
// "verification failed" that is not an error) or an Error.
using Action = std::function<core::Result<int>(Context&)>;

// Each command group adds its subcommands to `app`; when one is parsed, it stores what to run in
// `*action`.
void AddCaCommands(CLI::App& app, Action* action);
// `ca revoke` and `ca crl` (ca_revoke_cmd.cc), added to the `ca` group by AddCaCommands.
void AddCaRevocationCommands(CLI::App* ca, Action* action);
void AddCertCommands(CLI::App& app, Action* action);
void AddCsrCommands(CLI::App& app, Action* action);
void AddInspectCommand(CLI::App& app, Action* action);
void AddVerifyCommand(CLI::App& app, Action* action);
void AddToolCommands(CLI::App& app, Action* action);  // fingerprint, convert, chain, key
void AddQuickstartCommand(CLI::App& app, Action* action);
// The control plane: init, serve (server_cmd.cc).
void AddServerCommands(CLI::App& app, Action* action);
// The API client: login, cluster, users, tokens, audit (client_cmd.cc).
void AddClientCommands(CLI::App& app, Action* action);
// `nodes ...` and `agent enroll|run` (nodes_cmd.cc).
void AddNodeCommands(CLI::App& app, Action* action);
// `proxy`: the data-path TLS proxy (proxy_cmd.cc).
void AddProxyCommands(CLI::App& app, Action* action);
// Revocation through the API: revoke (revoke_cmd.cc).
void AddRevokeCommand(CLI::App& app, Action* action);
// CRLs: crl show (offline), crl fetch (API) (crl_cmd.cc).
void AddCrlCommands(CLI::App& app, Action* action);
// The inventory through the API: certificates list|show (certificates_cmd.cc).
void AddCertificatesCommands(CLI::App& app, Action* action);

// An error in how the command was called (exit code 2), found after CLI11's own parsing.
core::Error UsageError(std::string message);
bool IsUsageError(const core::Error& error);

// --- Option helpers (CLI11) ----------------------------------------------------------------

// Validator accepting the key type names of pki::ParseKeyType.
CLI::Validator KeyTypeValidator();
// Help text listing the key types, with the default.
std::string KeyTypeHelp(const char* default_name = "ec-p256");
// Repeatable option taking one value per occurrence ("--dns a --dns b").
CLI::Option* AddRepeated(CLI::App* cmd, const std::string& name, std::vector<std::string>& into,
                         const std::string& help);

// The --subject option of the commands that name a certificate: OpenSSL's -subj form or RFC 4514.
CLI::Option* AddSubjectOption(CLI::App* cmd, std::string& into, const std::string& what);

// The subject attributes (C, ST, L, O, OU) of a --subject value, "" giving none. A CN in it must
// name `common_name` (the CN the command uses, compared as canonical DNS names or IPs), which
// `cn_source` names in the usage error; with an empty `common_name`, any CN is a usage error
// that shows `cn_source`. Bad attributes fail with kInvalidArgument naming --subject.
core::Result<pki::SubjectAttributes> SubjectAttributesOption(const std::string& subject,
                                                             const std::string& common_name,
                                                             const std::string& cn_source);

// --- File ownership (--owner) --------------------------------------------------------------

// Adds --owner USER[:GROUP] to a command that writes keys (services that do not run as root).
CLI::Option* AddOwnerOption(CLI::App* cmd, std::string& into);
// The parsed --owner value, "" giving none. An unknown user or group, or a malformed value, is a
// usage error naming it (found before anything is written).
core::Result<std::optional<core::FileOwner>> OwnerOption(const std::string& spec);
// How a written secret file is protected, for summaries: "mode 0600", or with --owner e.g.
// "mode 0640, owner root:redis".
std::string KeyModeNote(const std::optional<core::FileOwner>& owner);

// --- Reading inputs --------------------------------------------------------------------------

// Reads a file (error names the file).
core::Result<std::string> ReadInput(const std::string& path);
// Reads a passphrase file if `path` is not empty: the whole content, one trailing newline
// ignored; an empty passphrase is refused.
core::Result<std::optional<std::string>> ReadOptionalPassphrase(const std::string& path);
// Reads and parses a private key; an encrypted key without a passphrase names `pass_flag`.
core::Result<pki::PrivateKey> LoadPrivateKey(const std::string& path,
                                             const std::string& passphrase_file,
                                             const std::string& pass_flag);
// Reads every certificate of a PEM bundle or one DER certificate.
core::Result<std::vector<pki::Certificate>> LoadCertificates(const std::string& path);
// Builds an issuer from a CA certificate file (the CA alone, or the CA with the chain above it
// in any order) and its key.
core::Result<pki::Issuer> LoadIssuer(const std::string& ca_cert, const std::string& ca_key,
                                     const std::string& ca_passphrase_file);

// Issues with `issuer`, naming the CA certificate file in errors about the issuer itself
// (expired, would be outlived, not a CA).
core::Result<pki::Certificate> IssueNaming(const pki::Issuer& issuer, const std::string& ca_cert,
                                           const pki::IssueRequest& request,
                                           const pki::PublicKey& key, core::TimePoint now,
                                           core::Rng& rng);
// The context to add to an issuance error: "<ca_cert>: " for errors about the issuer.
core::Error IssuerErrorContext(const core::Error& error, const std::string& ca_cert);

// --- Values ----------------------------------------------------------------------------------

// The issuer's certificate followed by the chain above it.
std::vector<pki::Certificate> IssuerPath(const pki::Issuer& issuer);
// PEM of `leaf` followed by the issuer path: what "<name>.crt" holds.
std::string LeafWithChainPem(const pki::Certificate& leaf, const pki::Issuer& issuer);
// The top-most CA certificate known (the root when the chain reaches it): "ca/ca.crt" of a zip.
const pki::Certificate& TopCa(const pki::Issuer& issuer);
// Private key PEM, encrypted when `passphrase` is set.
core::Result<std::string> KeyPem(const pki::PrivateKey& key,
                                 const std::optional<std::string>& passphrase);
// Human summary of validity, e.g. "2025-01-01T00:00:00Z (in 364 days)".
std::string DescribeNotAfter(core::TimePoint not_after, core::TimePoint now);
// Checks `name` is usable as an output file name (usage error otherwise).
core::Result<void> CheckFileName(const std::string& flag, const std::string& name);

}  // namespace clustertls::cli
