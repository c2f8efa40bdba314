#include "authority/audit_head.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "authority/delegated_signer.h"
#include "authority/secrets.h"
#include "core/encoding.h"
#include "core/files.h"
#include "pki/issuer.h"
#include "pki/key.h"
#include "pki/signature.h"
#include "pki/verify.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using core::Fail;
using json = nlohmann::json;

// Who issues and records the signer certificates (issued_by, audit actor), as for OCSP.
constexpr const char* kActor = "clustertls";

bool IsHashHex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string SignerName(const pki::Certificate& signer) {
  return "signer " + signer.subject() + ", serial " + signer.serial_hex();
}

// The current audit signer.
struct Signer {
  pki::PrivateKey key;
  std::vector<pki::Certificate> chain;  // signer, issuing CA, root
  core::TimePoint not_after{};
  core::TimePoint renew_at{};  // half of its lifetime
};

}  // namespace

std::string AuditHeadMessage(std::int64_t seq, std::string_view hash, core::TimePoint signed_at) {
  std::string out = "clustertls audit head v1";
  out.push_back('\0');
  out += "seq=" + std::to_string(seq);
  out.push_back('\0');
  out += "hash=";
  out += hash;
  out.push_back('\0');
  out += "time=" + std::to_string(signed_at.time_since_epoch().count());
  return out;
}

std::string AuditHeadToJson(const AuditHead& head) {
  std::string chain;
  for (const pki::Certificate& c : head.chain) {
    chain += c.ToPem();
  }
  nlohmann::ordered_json j;
  j["format"] = kAuditHeadFormat;
  j["seq"] = head.seq;
  j["hash"] = head.hash;
  j["time"] = core::FormatTime(head.signed_at);
  j["signature"] = core::Base64Encode(head.signature);
  j["signer_fingerprint_sha256"] =
      head.chain.empty() ? std::string() : head.chain.front().fingerprint().colon;
  j["chain"] = chain;
  return j.dump(2) + "\n";
}

core::Result<AuditHead> ParseAuditHead(std::string_view text) {
  auto bad = [](const std::string& why) { return Fail(ErrorCode::kParse, "audit head: " + why); };
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return bad("not a JSON object");
  }
  static constexpr std::string_view kMembers[] = {
      "format", "seq", "hash", "time", "signature", "signer_fingerprint_sha256", "chain"};
  for (const auto& [key, value] : j.items()) {
    if (std::find(std::begin(kMembers), std::end(kMembers), key) == std::end(kMembers)) {
      return bad("unknown member \"" + key + "\"");
    }
  }
  auto text_member = [&](const char* key) -> core::Result<std::string> {
    if (!j.contains(key) || !j[key].is_string()) {
      return bad(std::string("'") + key + "' must be a string");
    }
    return j[key].get<std::string>();
  };
  CTLS_ASSIGN_OR_RETURN(std::string format, text_member("format"));
  if (format != kAuditHeadFormat) {
    return bad("format \"" + format + "\" is not " + std::string(kAuditHeadFormat));
  }
  AuditHead head;
  if (!j.contains("seq") || !j["seq"].is_number_integer() || j["seq"].get<std::int64_t>() < 1) {
    return bad("'seq' must be an entry's sequence number (an integer, 1 or more)");
  }
  head.seq = j["seq"].get<std::int64_t>();
  CTLS_ASSIGN_OR_RETURN(head.hash, text_member("hash"));
  if (!IsHashHex(head.hash)) {
    return bad("'hash' must be 64 lower-case hex characters (an audit entry's SHA-256)");
  }
  CTLS_ASSIGN_OR_RETURN(std::string time, text_member("time"));
  auto signed_at = core::ParseTime(time);
  if (!signed_at) {
    return bad("'time': " + signed_at.error().message);
  }
  head.signed_at = *signed_at;
  CTLS_ASSIGN_OR_RETURN(std::string signature, text_member("signature"));
  auto decoded = core::Base64Decode(signature);
  if (!decoded || decoded->empty()) {
    return bad("'signature' must be base64");
  }
  head.signature = *std::move(decoded);
  CTLS_ASSIGN_OR_RETURN(std::string chain, text_member("chain"));
  if (chain.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return bad("'chain' holds no PEM certificate");
  }
  auto certs = pki::Certificate::ParseAll(chain);
  if (!certs) {
    return bad("'chain': " + certs.error().message);
  }
  if (certs->empty()) {
    return bad("'chain' holds no PEM certificate");
  }
  head.chain = *std::move(certs);
  CTLS_ASSIGN_OR_RETURN(std::string fingerprint, text_member("signer_fingerprint_sha256"));
  if (core::AsciiLower(fingerprint) != core::AsciiLower(head.chain.front().fingerprint().colon)) {
    return bad(
        "'signer_fingerprint_sha256' is not the fingerprint of the chain's first "
        "certificate");
  }
  return head;
}

std::string DescribeAuditHead(const AuditHead& head, std::string_view where) {
  return "the signed head" + (where.empty() ? std::string() : " in " + std::string(where)) +
         " (entry " + std::to_string(head.seq) + ", hash " + head.hash + ", signed at " +
         core::FormatTime(head.signed_at) + ")";
}

core::Result<void> VerifyAuditHead(const AuditHead& head,
                                   const std::vector<pki::Certificate>& anchors) {
  auto bad = [](const std::string& why) { return Fail(ErrorCode::kBadSignature, why); };
  if (head.chain.empty()) {
    return bad("the audit head names no signer certificate");
  }
  const pki::Certificate& signer = head.chain.front();
  auto eku = signer.extended_key_usage_extension();
  const std::string oid(pki::kAuditSigningEkuOid);
  if (!eku || !eku->has_value() ||
      std::find((*eku)->begin(), (*eku)->end(), oid) == (*eku)->end() || signer.is_ca()) {
    return bad("the audit head's signer certificate is not an audit signer (" + SignerName(signer) +
               ": no extendedKeyUsage " + oid + ")");
  }
  pki::VerifyReport report = pki::Verify(
      signer, pki::VerifyOptions{.anchors = anchors,
                                 .untrusted = {head.chain.begin() + 1, head.chain.end()},
                                 .at = head.signed_at});
  if (!report.ok()) {
    return bad("the audit head's signer certificate does not verify against the cluster CA at " +
               core::FormatTime(head.signed_at) + " (" + SignerName(signer) +
               "): " + report.problems.front().message);
  }
  if (auto ok =
          pki::VerifyData(signer.public_key(),
                          AuditHeadMessage(head.seq, head.hash, head.signed_at), head.signature);
      !ok) {
    return bad("the audit head's signature does not verify (" + SignerName(signer) + ")");
  }
  return {};
}

core::Result<std::optional<AuditHead>> ReadAuditHeadFile(const std::string& path) {
  auto text = core::ReadFile(path, 1024 * 1024);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) {
      return std::optional<AuditHead>();
    }
    return text.error();
  }
  auto head = ParseAuditHead(*text);
  if (!head) {
    return head.error().WithContext(path);
  }
  return std::optional<AuditHead>(*std::move(head));
}

// ---------------------------------------------------------------------------------------------
// AuditHeadKeeper

struct AuditHeadKeeper::Impl {
  Impl(const ClusterCa& c, const AuditHeadKeeperOptions& o) : ca(c), options(o) {}

  const ClusterCa ca;
  const AuditHeadKeeperOptions options;
  std::string signer_cn;

  std::mutex update_mu;               // one Update at a time
  std::optional<Signer> signer;       // guarded by update_mu
  std::optional<std::string> broken;  // guarded by update_mu: the problem once the log was cut

  mutable std::mutex head_mu;
  std::optional<AuditHead> head;  // guarded by head_mu

  core::Result<Signer> IssueSigner(core::TimePoint now);
  // The problem line if the log no longer reaches `current`; nullopt if it does.
  core::Result<std::optional<std::string>> CheckReaches(const AuditHead& current,
                                                        const store::AuditEntry& last);
  core::Result<bool> Update();
};

core::Result<Signer> AuditHeadKeeper::Impl::IssueSigner(core::TimePoint now) {
  CTLS_ASSIGN_OR_RETURN(DelegatedSigner made,
                        IssueDelegatedSigner(*options.store, ca,
                                             {.profile = pki::Profile::kAuditSigner,
                                              .record_profile = std::string(kAuditSignerProfile),
                                              .common_name = signer_cn,
                                              .validity = options.signer_validity,
                                              .actor = kActor,
                                              .what = "audit signer",
                                              .certificate_noun = "an audit signer certificate"},
                                             now, *options.rng));
  Signer out{.key = std::move(made.key), .chain = {made.certificate, ca.issuing.certificate()}};
  out.chain.insert(out.chain.end(), ca.issuing.chain().begin(), ca.issuing.chain().end());
  out.not_after = made.not_after;
  out.renew_at = made.renew_at;
  return out;
}

core::Result<std::optional<std::string>> AuditHeadKeeper::Impl::CheckReaches(
    const AuditHead& current, const store::AuditEntry& last) {
  if (last.seq < current.seq) {
    return std::optional(AuditTruncatedProblem(DescribeAuditHead(current), last.seq));
  }
  CTLS_ASSIGN_OR_RETURN(std::vector<store::AuditEntry> at,
                        options.store->ListAudit(current.seq - 1, 1));
  if (at.empty() || at.front().seq != current.seq) {
    // Rows deleted from the middle, the head's entry among them.
    return std::optional("audit log truncated or rewritten: entry " + std::to_string(current.seq) +
                         " is missing, but " + DescribeAuditHead(current) + " names it");
  }
  if (at.front().hash != current.hash) {
    return std::optional(
        AuditRewrittenProblem(DescribeAuditHead(current), current.seq, at.front().hash));
  }
  return std::optional<std::string>();
}

core::Result<bool> AuditHeadKeeper::Impl::Update() {
  std::lock_guard lock(update_mu);
  if (broken) {
    return Fail(ErrorCode::kVerifyFailed, *broken);
  }
  const core::TimePoint now = options.clock->Now();
  std::optional<core::Error> renewal_error;
  if (!signer || now >= signer->renew_at) {
    auto next = IssueSigner(now);
    if (next) {
      signer = *std::move(next);
    } else {
      renewal_error = next.error().WithContext("renewing the audit signer");
    }
  }
  if (!signer || now > signer->not_after) {
    return renewal_error ? *renewal_error
                         : Fail(ErrorCode::kExpired, "audit signer: no valid certificate");
  }
  CTLS_ASSIGN_OR_RETURN(std::optional<store::AuditEntry> last, options.store->LastAudit());
  std::optional<AuditHead> current;
  {
    std::lock_guard head_lock(head_mu);
    current = head;
  }
  if (current) {
    std::optional<std::string> problem;
    if (!last) {
      problem = AuditTruncatedProblem(DescribeAuditHead(*current), 0);
    } else if (last->seq == current->seq && last->hash == current->hash) {
      if (renewal_error) {
        return *renewal_error;
      }
      return false;
    } else {
      CTLS_ASSIGN_OR_RETURN(problem, CheckReaches(*current, *last));
    }
    if (problem) {
      broken = *problem;
      return Fail(ErrorCode::kVerifyFailed, *problem);
    }
  }
  if (!last) {
    return false;  // an empty log has no head
  }
  AuditHead next{.seq = last->seq, .hash = last->hash, .signed_at = now, .chain = signer->chain};
  CTLS_ASSIGN_OR_RETURN(next.signature,
                        pki::SignData(signer->key, AuditHeadMessage(next.seq, next.hash, now)));
  if (!options.file.empty()) {
    // Not yet current if the file cannot be written: the next call signs and writes again.
    CTLS_RETURN_IF_ERROR(core::WriteFileAtomic(options.file, AuditHeadToJson(next),
                                               {.mode = core::kPublicFileMode, .overwrite = true}));
  }
  {
    std::lock_guard head_lock(head_mu);
    head = std::move(next);
  }
  if (renewal_error) {
    return *renewal_error;
  }
  return true;
}

AuditHeadKeeper::AuditHeadKeeper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditHeadKeeper::~AuditHeadKeeper() = default;

core::Result<std::unique_ptr<AuditHeadKeeper>> AuditHeadKeeper::Create(
    const ClusterCa& ca, const AuditHeadKeeperOptions& options) {
  if (options.store == nullptr || options.clock == nullptr || options.rng == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "audit head: store, clock and rng must be set");
  }
  if (options.signer_validity < std::chrono::minutes(1)) {
    return Fail(ErrorCode::kInvalidArgument,
                "audit signer validity: must be at least one minute (got " +
                    core::FormatDuration(options.signer_validity) + ")");
  }
  auto impl = std::make_unique<Impl>(ca, options);
  // The signer's CN must be a host name (the issuer makes a leaf's CN one of its SANs).
  auto fqdn = options.store->GetConfig(std::string(kConfigFqdn));
  if (fqdn) {
    impl->signer_cn = "audit." + *fqdn;
  } else if (fqdn.error().code == ErrorCode::kNotFound) {
    impl->signer_cn = "audit.clustertls.invalid";
  } else {
    return fqdn.error().WithContext("audit head: reading the cluster FQDN");
  }

  if (!options.file.empty()) {
    // The file is the evidence of what the log once held: a problem stops serve, and the file is
    // left as it is.
    const std::string dir = std::filesystem::path(options.file).parent_path().string();
    auto refuse = [&](ErrorCode code, const std::string& problem) {
      return Fail(code, problem + "; run `clustertls audit verify --data-dir " +
                            (dir.empty() ? std::string(".") : dir) +
                            "`, and once the cause is known move " + options.file +
                            " aside to start");
    };
    auto kept = ReadAuditHeadFile(options.file);
    if (!kept) {
      return refuse(kept.error().code, kept.error().message);
    }
    if (*kept) {
      if (auto ok = VerifyAuditHead(**kept, {ca.root}); !ok) {
        return refuse(ok.error().code, options.file + ": " + ok.error().message);
      }
      CTLS_ASSIGN_OR_RETURN(std::optional<store::AuditEntry> last, options.store->LastAudit());
      std::optional<std::string> problem;
      if (!last) {
        problem = AuditTruncatedProblem(DescribeAuditHead(**kept), 0);
      } else {
        CTLS_ASSIGN_OR_RETURN(problem, impl->CheckReaches(**kept, *last));
      }
      if (problem) {
        return refuse(ErrorCode::kVerifyFailed, options.file + ": " + *problem);
      }
      impl->head = **std::move(kept);
    }
  }
  auto signer = impl->IssueSigner(options.clock->Now());
  if (!signer) {
    return signer.error();
  }
  impl->signer = *std::move(signer);
  return std::unique_ptr<AuditHeadKeeper>(new AuditHeadKeeper(std::move(impl)));
}

core::Result<bool> AuditHeadKeeper::Update() { return impl_->Update(); }

std::optional<AuditHead> AuditHeadKeeper::Current() const {
  std::lock_guard lock(impl_->head_mu);
  return impl_->head;
}

}  // namespace clustertls::authority
