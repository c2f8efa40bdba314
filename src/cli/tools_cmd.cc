// `clustertls fingerprint`, `convert`, `chain order` and `key match`.
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/input.h"
#include "cli/output.h"
#include "core/files.h"
#include "pki/chain.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/pkcs12.h"

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;

// ---------------------------------------------------------------------------------------------
// fingerprint

struct FingerprintOptions {
  std::string file;
  bool json = false;
};

core::Result<int> RunFingerprint(const FingerprintOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(auto certs, LoadCertificates(o.file));
  if (o.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& c : certs) {
      pki::Fingerprint fp = c.fingerprint();
      j.push_back({{"subject", c.subject()}, {"sha256", fp.colon}, {"sha256_hex", fp.hex}});
    }
    ctx.out << j.dump(2) << '\n';
    return 0;
  }
  for (const auto& c : certs) {
    pki::Fingerprint fp = c.fingerprint();
    ctx.out << fp.colon << '\n' << fp.hex << '\n';
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// convert

struct ConvertOptions {
  std::string in;
  std::string to;
  std::string out;
  std::string key;
  std::string passphrase_file;
  std::string key_passphrase_file;
  std::string owner;
  bool force = false;
};

// Where converted data goes: --out (atomically) or stdout (text only).
core::Result<int> Deliver(const ConvertOptions& o, const std::optional<core::FileOwner>& owner,
                          Context& ctx, OutputSet& outputs, const std::string& data, bool secret,
                          bool binary) {
  if (o.out.empty()) {
    if (binary || secret) {
      return UsageError(std::string("--out is required for ") +
                        (secret ? "output holding a private key" : "binary (DER/PKCS#12) output"));
    }
    // e.g. --key of a PKCS#12
    CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force, .owner = owner}));
    ctx.out << data;
    return 0;
  }
  if (secret) {
    outputs.AddPrivate(o.out, data);
  } else {
    outputs.AddPublic(o.out, data);
  }
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force, .owner = owner}));
  for (const auto& f : outputs.files()) {
    if (f.mode == core::kPrivateFileMode) {
      ctx.Info("wrote " + f.path + " (" + KeyModeNote(owner) + ")");
    } else {
      ctx.Info("wrote " + f.path + (owner ? " (owner " + owner->spec + ")" : ""));
    }
  }
  return 0;
}

core::Result<int> RunConvert(const ConvertOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(o.in));
  const InputKind kind = DetectKind(data);
  const bool binary = o.to != "pem";
  OutputSet outputs;
  if (!o.key.empty() && o.to != "p12" && kind != InputKind::kPkcs12) {
    return UsageError("--key is used with --to p12, or to extract the key of a PKCS#12");
  }
  switch (kind) {
    case InputKind::kCertificates: {
      auto certs = pki::Certificate::ParseAll(data);
      if (!certs) {
        return certs.error().WithContext(o.in);
      }
      if (o.to == "pem") {
        return Deliver(o, owner, ctx, outputs, pki::ToPemBundle(*certs), false, binary);
      }
      if (o.to == "der") {
        if (certs->size() != 1) {
          return Fail(ErrorCode::kInvalidArgument,
                      o.in + ": holds " + std::to_string(certs->size()) +
                          " certificates; DER holds exactly one");
        }
        return Deliver(o, owner, ctx, outputs, certs->front().ToDer(), false, binary);
      }
      // p12: the certificate(s) plus --key.
      if (o.key.empty() || o.passphrase_file.empty()) {
        return UsageError("--to p12 needs --key (the certificate's key) and --passphrase-file "
                          "(the PKCS#12 passphrase)");
      }
      CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, LoadPrivateKey(o.key, o.key_passphrase_file,
                                                                "--key-passphrase-file"));
      if (!key.Matches(certs->front().public_key())) {
        return Fail(ErrorCode::kKeyMismatch, o.key + ": key does not match certificate " + o.in);
      }
      CTLS_ASSIGN_OR_RETURN(std::string pass, core::ReadPassphraseFile(o.passphrase_file));
      std::vector<pki::Certificate> chain(certs->begin() + 1, certs->end());
      CTLS_ASSIGN_OR_RETURN(std::string p12,
                            pki::BuildPkcs12(key, certs->front(), chain, pass,
                                             {.friendly_name = certs->front().common_name()}));
      return Deliver(o, owner, ctx, outputs, p12, true, binary);
    }
    case InputKind::kCsr:
    case InputKind::kCrl: {
      if (o.to == "p12") {
        return Fail(ErrorCode::kUnsupported,
                    o.in + ": a " + InputKindName(kind) + " cannot be converted to PKCS#12");
      }
      std::string pem, der;
      if (kind == InputKind::kCsr) {
        auto csr = pki::Csr::Parse(data);
        if (!csr) {
          return csr.error().WithContext(o.in);
        }
        pem = csr->ToPem();
        der = csr->ToDer();
      } else {
        auto crl = pki::Crl::Parse(data);
        if (!crl) {
          return crl.error().WithContext(o.in);
        }
        pem = crl->ToPem();
        der = crl->ToDer();
      }
      return Deliver(o, owner, ctx, outputs, o.to == "pem" ? pem : der, false, binary);
    }
    case InputKind::kPrivateKey:
    case InputKind::kEncryptedPrivateKey: {
      if (o.to == "p12") {
        return UsageError("to make a PKCS#12, convert the certificate: convert CERT --to p12 "
                          "--key KEY --passphrase-file F");
      }
      CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key, LoadPrivateKey(o.in, o.key_passphrase_file,
                                                                "--key-passphrase-file"));
      if (o.to == "der") {
        CTLS_ASSIGN_OR_RETURN(std::string der, key.ToDer());
        return Deliver(o, owner, ctx, outputs, der, true, binary);
      }
      CTLS_ASSIGN_OR_RETURN(auto pass, ReadOptionalPassphrase(o.passphrase_file));
      CTLS_ASSIGN_OR_RETURN(std::string pem, KeyPem(key, pass));
      return Deliver(o, owner, ctx, outputs, pem, true, binary);
    }
    case InputKind::kPkcs12: {
      if (o.passphrase_file.empty()) {
        return Fail(ErrorCode::kWrongPassphrase,
                    o.in + ": PKCS#12 file: a passphrase is needed (use --passphrase-file)");
      }
      if (o.to != "pem") {
        return Fail(ErrorCode::kUnsupported,
                    o.in + ": a PKCS#12 converts to pem (certificates; the key with --key F)");
      }
      CTLS_ASSIGN_OR_RETURN(std::string pass, core::ReadPassphraseFile(o.passphrase_file));
      auto p12 = pki::ParsePkcs12(data, pass);
      if (!p12) {
        return p12.error().WithContext(o.in);
      }
      std::vector<pki::Certificate> certs;
      if (p12->certificate) {
        certs.push_back(*p12->certificate);
      }
      certs.insert(certs.end(), p12->chain.begin(), p12->chain.end());
      if (!o.key.empty()) {
        if (!p12->key) {
          return Fail(ErrorCode::kNotFound, o.in + ": the PKCS#12 holds no private key");
        }
        CTLS_ASSIGN_OR_RETURN(auto key_pass, ReadOptionalPassphrase(o.key_passphrase_file));
        CTLS_ASSIGN_OR_RETURN(std::string key_pem, KeyPem(*p12->key, key_pass));
        outputs.AddPrivate(o.key, std::move(key_pem));
      }
      if (certs.empty()) {
        return Fail(ErrorCode::kNotFound, o.in + ": the PKCS#12 holds no certificate");
      }
      return Deliver(o, owner, ctx, outputs, pki::ToPemBundle(certs), false, binary);
    }
    case InputKind::kPublicKey:
    case InputKind::kUnknown:
      break;
  }
  return Fail(ErrorCode::kParse,
              o.in + ": not a PEM or DER certificate, CSR, CRL, private key or PKCS#12 file");
}

// ---------------------------------------------------------------------------------------------
// chain order

struct ChainOrderOptions {
  std::string file;
  std::string out;
  bool allow_partial = false;
  bool force = false;
};

core::Result<int> RunChainOrder(const ChainOrderOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(auto certs, LoadCertificates(o.file));
  pki::ChainOrder order = pki::OrderChain(certs);
  std::vector<std::string> problems;
  if (!order.ends_in_root && !o.allow_partial) {
    std::string last = order.ordered.empty() ? "?" : order.ordered.back().subject();
    problems.push_back("missing link: the issuer \"" + order.missing_issuer + "\" of \"" + last +
                       "\" is not in the bundle (--allow-partial accepts a chain without its "
                       "root)");
  }
  std::vector<pki::Certificate> unrelated;
  for (const auto& c : order.unused) {
    bool duplicate = false;
    for (const auto& on_path : order.ordered) {
      duplicate = duplicate || c.Equals(on_path);
    }
    if (!duplicate) {
      unrelated.push_back(c);
    }
  }
  if (!unrelated.empty()) {
    std::string names;
    for (const auto& c : unrelated) {
      names += (names.empty() ? "\"" : ", \"") + c.subject() + "\"";
    }
    problems.push_back(std::to_string(unrelated.size()) +
                       " certificate(s) are not on the leaf's chain: " + names);
  }
  if (!problems.empty()) {
    std::string msg = o.file + ": " + problems.front();
    for (std::size_t i = 1; i < problems.size(); ++i) {
      msg += "; " + problems[i];
    }
    return Fail(ErrorCode::kChainIncomplete, msg);
  }
  std::string pem = pki::ToPemBundle(order.ordered);
  if (o.out.empty()) {
    ctx.out << pem;
    return 0;
  }
  OutputSet outputs;
  outputs.AddPublic(o.out, pem);
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force}));
  for (std::size_t i = 0; i < order.ordered.size(); ++i) {
    ctx.Info(std::to_string(i) + ": " + order.ordered[i].subject());
  }
  ctx.Info("wrote " + o.out);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// key match

struct KeyMatchOptions {
  std::string cert;
  std::string key;
  std::string passphrase_file;
};

core::Result<int> RunKeyMatch(const KeyMatchOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(o.cert));
  std::optional<pki::PublicKey> pub;
  if (DetectKind(data) == InputKind::kCsr) {
    auto csr = pki::Csr::Parse(data);
    if (!csr) {
      return csr.error().WithContext(o.cert);
    }
    pub = csr->public_key();
  } else {
    auto cert = pki::Certificate::FromPem(data);
    if (!cert) {
      cert = pki::Certificate::FromDer(data);
    }
    if (!cert) {
      return cert.error().WithContext(o.cert);
    }
    pub = cert->public_key();
  }
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key,
                        LoadPrivateKey(o.key, o.passphrase_file, "--passphrase-file"));
  if (!key.Matches(*pub)) {
    return Fail(ErrorCode::kKeyMismatch, o.key + ": key does not match certificate " + o.cert);
  }
  ctx.out << "match\n";
  return 0;
}

}  // namespace

void AddToolCommands(CLI::App& app, Action* action) {
  {
    auto o = std::make_shared<FingerprintOptions>();
    CLI::App* cmd = app.add_subcommand(
        "fingerprint",
        "print the SHA-256 fingerprint of each certificate in FILE, twice: colon form (as\n"
        "`openssl x509 -fingerprint -sha256` prints it) then plain lower-case hex (what\n"
        "Elastic's ca_trusted_fingerprint takes).");
    cmd->add_option("FILE", o->file, "certificate file (PEM bundle or DER)")->required();
    cmd->add_flag("--json", o->json, "print JSON");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunFingerprint(*o, ctx); };
    });
  }
  {
    auto o = std::make_shared<ConvertOptions>();
    CLI::App* cmd = app.add_subcommand(
        "convert",
        "convert between encodings:\n"
        "  certificate(s), CSR, CRL: --to pem or der (DER holds one certificate)\n"
        "  certificate + --key: --to p12 (--passphrase-file protects the PKCS#12)\n"
        "  private key: --to pem (PKCS#8, encrypted with --passphrase-file) or der\n"
        "  PKCS#12 (--passphrase-file): --to pem writes the certificates; --key F also\n"
        "    extracts the key (like `openssl pkcs12 -clcerts -nokeys` / `-nocerts -nodes`).\n"
        "Text goes to stdout without --out; keys and binary output need --out.");
    cmd->add_option("IN", o->in, "input file (PEM or DER)")->required();
    cmd->add_option("--to", o->to, "pem, der or p12")
        ->required()
        ->check(CLI::IsMember({"pem", "der", "p12"}));
    cmd->add_option("--out", o->out, "output file (default: stdout, for PEM without keys)");
    cmd->add_option("--key", o->key,
                    "--to p12: the certificate's private key; PKCS#12 input: where to write "
                    "its key (0600)");
    cmd->add_option("--passphrase-file", o->passphrase_file,
                    "passphrase of the PKCS#12 (read or written), or to encrypt a key converted "
                    "to pem; whole content, one trailing newline ignored");
    cmd->add_option("--key-passphrase-file", o->key_passphrase_file,
                    "passphrase of an encrypted input key");
    AddOwnerOption(cmd, o->owner);
    cmd->add_flag("--force", o->force, "overwrite existing output files");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunConvert(*o, ctx); };
    });
  }
  {
    CLI::App* chain = app.add_subcommand("chain", "certificate chains");
    chain->require_subcommand(1);
    auto o = std::make_shared<ChainOrderOptions>();
    CLI::App* cmd = chain->add_subcommand(
        "order",
        "order a bag of PEM certificates into leaf -> intermediate(s) -> root and print it\n"
        "(or write --out). Exits 1 naming the missing link when the chain is incomplete.");
    cmd->add_option("FILE", o->file, "PEM bundle, in any order")->required();
    cmd->add_option("--out", o->out, "write the ordered bundle here instead of stdout");
    cmd->add_flag("--allow-partial", o->allow_partial,
                  "accept a chain that stops before a root (what a TLS server sends)");
    cmd->add_flag("--force", o->force, "overwrite an existing --out file");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunChainOrder(*o, ctx); };
    });
  }
  {
    CLI::App* key = app.add_subcommand("key", "private keys");
    key->require_subcommand(1);
    auto o = std::make_shared<KeyMatchOptions>();
    CLI::App* cmd = key->add_subcommand(
        "match",
        "check that a private key belongs to a certificate (or CSR): prints \"match\" and exits\n"
        "0, or exits 1 with \"key does not match certificate\".");
    cmd->add_option("--cert", o->cert, "certificate (first of a PEM bundle) or CSR")->required();
    cmd->add_option("--key", o->key, "private key")->required();
    cmd->add_option("--passphrase-file", o->passphrase_file,
                    "passphrase of an encrypted --key (whole content, one trailing newline "
                    "ignored)");
    cmd->callback([o, action] {
      *action = [o](Context& ctx) { return RunKeyMatch(*o, ctx); };
    });
  }
}

}  // namespace clustertls::cli
