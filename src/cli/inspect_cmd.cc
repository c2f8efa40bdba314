// `clustertls inspect FILE [--json]`: certificates, CSRs, CRLs, keys (type only), PKCS#12.
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/common.h"
#include "cli/crl_view.h"
#include "cli/input.h"
#include "cli/summary.h"
#include "core/encoding.h"
#include "core/files.h"
#include "ossl/bio.h"
#include "pki/crl.h"
#include "pki/csr.h"
#include "pki/pkcs12.h"

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;
using nlohmann::json;

struct InspectOptions {
  std::string file;
  bool json = false;
  std::string passphrase_file;
};

json SansJson(const pki::SubjectAltNames& s) {
  return json{{"dns", s.dns}, {"ip", s.ips}, {"uri", s.uris}, {"email", s.emails}};
}

json CertJson(const pki::Certificate& c) {
  pki::Fingerprint fp = c.fingerprint();
  json j{
      {"subject", c.subject()},
      {"issuer", c.issuer()},
      {"serial", c.serial_hex()},
      {"not_before", core::FormatTime(c.not_before())},
      {"not_after", core::FormatTime(c.not_after())},
      {"sans", SansJson(c.sans())},
      {"key", c.public_key().Describe()},
      {"key_usage", c.key_usages()},
      {"extended_key_usage", c.extended_key_usages()},
      {"ca", c.is_ca()},
      {"path_len", nullptr},
      {"crl_urls", c.crl_urls()},
      {"ocsp_urls", c.ocsp_urls()},
      {"subject_key_id", c.subject_key_id_hex()},
      {"authority_key_id", c.authority_key_id_hex()},
      {"signature_algorithm", c.signature_algorithm()},
      {"self_signed", c.IsSelfIssued()},
      {"sha256_fingerprint", fp.colon},
      {"sha256_fingerprint_hex", fp.hex},
  };
  if (auto pl = c.path_len()) {
    j["path_len"] = *pl;
  }
  return j;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += (out.empty() ? "" : ", ") + s;
  }
  return out.empty() ? "-" : out;
}

void PrintCert(std::ostream& out, const pki::Certificate& c, core::TimePoint now) {
  pki::Fingerprint fp = c.fingerprint();
  std::string ca = "no";
  if (c.is_ca()) {
    ca = "yes";
    if (auto pl = c.path_len()) {
      ca += " (path length " + std::to_string(*pl) + ")";
    }
  }
  std::string sans = JoinSans(c.sans());
  out << "  Subject:            " << c.subject() << '\n'
      << "  Issuer:             " << c.issuer() << (c.IsSelfIssued() ? " (self-issued)" : "")
      << '\n'
      << "  Serial:             " << c.serial_hex() << '\n'
      << "  Not before:         " << core::FormatTime(c.not_before()) << '\n'
      << "  Not after:          " << DescribeNotAfter(c.not_after(), now) << '\n'
      << "  Subject alt names:  " << (sans.empty() ? "-" : sans) << '\n'
      << "  Public key:         " << c.public_key().Describe() << '\n'
      << "  Key usage:          " << Join(c.key_usages()) << '\n'
      << "  Extended key usage: " << Join(c.extended_key_usages()) << '\n'
      << "  CA:                 " << ca << '\n';
  // RFC 5280 4.2.1.13 and 4.2.2.1: where relying parties fetch the CRL and ask OCSP.
  for (const std::string& url : c.crl_urls()) {
    out << "  CRL:                " << url << '\n';
  }
  for (const std::string& url : c.ocsp_urls()) {
    out << "  OCSP:               " << url << '\n';
  }
  out << "  Subject key ID:     " << (c.subject_key_id_hex().empty() ? "-" : c.subject_key_id_hex())
      << '\n'
      << "  Authority key ID:   "
      << (c.authority_key_id_hex().empty() ? "-" : c.authority_key_id_hex()) << '\n'
      << "  Signature:          " << c.signature_algorithm() << '\n'
      << "  SHA-256:            " << fp.colon << '\n'
      << "  SHA-256 (hex):      " << fp.hex << '\n';
}

void Emit(Context& ctx, const InspectOptions& o, const json& j, const std::string& text) {
  if (o.json) {
    ctx.out << j.dump(2) << '\n';
  } else {
    ctx.out << text;
  }
}

core::Result<int> InspectCertificates(const std::vector<pki::Certificate>& certs,
                                      const InspectOptions& o, Context& ctx, json j) {
  const core::TimePoint now = ctx.clock.Now();
  j["certificates"] = json::array();
  std::ostringstream text;
  for (std::size_t i = 0; i < certs.size(); ++i) {
    j["certificates"].push_back(CertJson(certs[i]));
    text << "Certificate " << (i + 1) << " of " << certs.size() << '\n';
    PrintCert(text, certs[i], now);
  }
  Emit(ctx, o, j, text.str());
  return 0;
}

core::Result<int> RunInspect(const InspectOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(std::string data, ReadInput(o.file));
  InputKind kind = DetectKind(data);
  json j{{"file", o.file}};
  switch (kind) {
    case InputKind::kCertificates: {
      auto certs = pki::Certificate::ParseAll(data);
      if (!certs) {
        return certs.error().WithContext(o.file);
      }
      j["type"] = "certificates";
      return InspectCertificates(*certs, o, ctx, j);
    }
    case InputKind::kCsr: {
      auto csr = pki::Csr::Parse(data);
      if (!csr) {
        return csr.error().WithContext(o.file);
      }
      j["type"] = "csr";
      j["subject"] = csr->subject();
      j["common_name"] = csr->common_name();
      j["sans"] = SansJson(csr->sans());
      j["key"] = csr->public_key().Describe();
      j["signature_valid"] = true;
      std::string sans = JoinSans(csr->sans());
      Emit(ctx, o, j,
           "Certificate signing request\n  Subject:            " + csr->subject() +
               "\n  Subject alt names:  " + (sans.empty() ? "-" : sans) +
               "\n  Public key:         " + csr->public_key().Describe() +
               "\n  Signature:          valid\n");
      return 0;
    }
    case InputKind::kCrl: {
      auto crl = pki::Crl::Parse(data);
      if (!crl) {
        return crl.error().WithContext(o.file);
      }
      const core::TimePoint now = ctx.clock.Now();
      auto described = CrlJson(*crl, now);
      if (!described) {
        return described.error().WithContext(o.file);
      }
      j["type"] = "crl";
      j.update(*described);
      std::ostringstream text;
      text << "Certificate revocation list\n";
      CTLS_RETURN_IF_ERROR(PrintCrl(text, *crl, now));
      Emit(ctx, o, j, text.str());
      return 0;
    }
    case InputKind::kPrivateKey:
    case InputKind::kEncryptedPrivateKey: {
      const bool encrypted = kind == InputKind::kEncryptedPrivateKey;
      j["type"] = "private_key";
      j["encrypted"] = encrypted;
      std::string text = std::string("Private key") + (encrypted ? " (encrypted)" : "") + "\n";
      if (!encrypted || !o.passphrase_file.empty()) {
        CTLS_ASSIGN_OR_RETURN(pki::PrivateKey key,
                              LoadPrivateKey(o.file, o.passphrase_file, "--passphrase-file"));
        pki::Fingerprint spki = pki::Sha256Fingerprint(key.public_key().SpkiDer());
        j["key"] = key.Describe();
        j["public_key_sha256"] = spki.hex;
        text += "  Type:               " + key.Describe() + "\n" +
                "  Public key SHA-256: " + spki.hex + "\n";
      } else {
        text += "  (give --passphrase-file to see its type)\n";
      }
      Emit(ctx, o, j, text);
      return 0;
    }
    case InputKind::kPublicKey: {
      std::string der = data;
      if (data.find("-----BEGIN") != std::string::npos) {
        auto bio = ossl::ReadBio(data);
        auto key = ossl::Own(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
        if (!key) {
          return Fail(ErrorCode::kParse, o.file + ": corrupt PEM public key");
        }
        der = pki::PublicKey::FromEvp(key.get()).SpkiDer();
      }
      auto pub = pki::PublicKey::FromSpkiDer(der);
      if (!pub) {
        return pub.error().WithContext(o.file);
      }
      j["type"] = "public_key";
      j["key"] = pub->Describe();
      j["public_key_sha256"] = pki::Sha256Fingerprint(der).hex;
      Emit(ctx, o, j,
           "Public key\n  Type:               " + pub->Describe() +
               "\n  SHA-256:            " + j["public_key_sha256"].get<std::string>() + "\n");
      return 0;
    }
    case InputKind::kPkcs12: {
      if (o.passphrase_file.empty()) {
        return Fail(ErrorCode::kWrongPassphrase,
                    o.file + ": PKCS#12 file: a passphrase is needed (use --passphrase-file)");
      }
      CTLS_ASSIGN_OR_RETURN(std::string pass, core::ReadPassphraseFile(o.passphrase_file));
      auto p12 = pki::ParsePkcs12(data, pass);
      if (!p12) {
        return p12.error().WithContext(o.file);
      }
      j["type"] = "pkcs12";
      j["key"] = p12->key ? json(p12->key->Describe()) : json(nullptr);
      std::vector<pki::Certificate> certs;
      if (p12->certificate) {
        certs.push_back(*p12->certificate);
      }
      certs.insert(certs.end(), p12->chain.begin(), p12->chain.end());
      if (!o.json) {
        ctx.out << "PKCS#12\n  Private key:        "
                << (p12->key ? p12->key->Describe() : std::string("none")) << '\n';
      }
      return InspectCertificates(certs, o, ctx, j);
    }
    case InputKind::kUnknown:
      break;
  }
  return Fail(ErrorCode::kParse,
              o.file + ": not a PEM or DER certificate, CSR, CRL, key or PKCS#12 file");
}

}  // namespace

void AddInspectCommand(CLI::App& app, Action* action) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "show what a file holds: certificate(s) (subject, issuer, serial, validity, SANs, key,\n"
      "key usage, EKU, CA/path length, CRL and OCSP URLs, SKI/AKI, SHA-256 fingerprints), a CSR,\n"
      "a CRL, a key (type and size only, never key material) or a PKCS#12. PEM or DER.");
  cmd->add_option("FILE", o->file, "the file to inspect")->required();
  cmd->add_flag("--json", o->json, "print JSON instead of text");
  cmd->add_option("--passphrase-file", o->passphrase_file,
                  "passphrase of a PKCS#12 or an encrypted key (whole content, one trailing "
                  "newline ignored)");
  cmd->callback([o, action] {
    *action = [o](Context& ctx) { return RunInspect(*o, ctx); };
  });
}

}  // namespace clustertls::cli
