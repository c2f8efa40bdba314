#include "authority/nodes.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <utility>

#include "authority/cert_summary.h"
#include "authority/named_cert.h"
#include "authority/secrets.h"
#include "pki/csr.h"
#include "pki/issuer.h"
#include "pki/names.h"

namespace clustertls::authority {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;
using json = nlohmann::ordered_json;

constexpr std::chrono::seconds kMinTokenTtl = std::chrono::minutes(1);
constexpr std::chrono::seconds kMaxTokenTtl = std::chrono::days(7);
constexpr const char* kInvalidToken = "enrollment token is not valid (unknown, used or expired)";

store::AuditInput Audit(core::TimePoint now, std::string actor, std::string action,
                        std::string target, std::string source, const json& details) {
  return store::AuditInput{.time = now,
                           .actor = std::move(actor),
                           .action = std::move(action),
                           .target = std::move(target),
                           .source = std::move(source),
                           .details_json = details.dump()};
}

// Canonical, de-duplicated, in the order given.
Result<std::vector<std::string>> CanonicalList(const std::vector<std::string>& items,
                                               const char* field, bool ip) {
  std::vector<std::string> out;
  for (const std::string& item : items) {
    auto canonical = ip ? pki::CanonicalIp(item) : pki::CanonicalDnsName(item, false);
    if (!canonical) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(field) + ": " + canonical.error().message);
    }
    if (std::find(out.begin(), out.end(), *canonical) == out.end()) {
      out.push_back(*std::move(canonical));
    }
  }
  return out;
}

Result<std::vector<std::string>> CheckAssign(store::Store& store,
                                             const std::vector<std::string>& assign) {
  std::vector<std::string> out;
  for (const std::string& name : assign) {
    if (auto checked = CheckCertName(name); !checked) {
      return checked.error().WithContext("assign");
    }
    if (std::find(std::begin(kNeverAssigned), std::end(kNeverAssigned), name) !=
        std::end(kNeverAssigned)) {
      return Fail(ErrorCode::kPermissionDenied,
                  "assign: certificate \"" + name +
                      "\" is the control plane's own and is never sent to nodes");
    }
    auto existing = store.GetNamedCert(name, std::nullopt);
    if (!existing) {
      if (existing.error().code == ErrorCode::kNotFound) {
        return Fail(ErrorCode::kNotFound, "assign: no cluster certificate named \"" + name +
                                              "\" (see GET /v1/cluster/certificates)");
      }
      return existing.error();
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(name);
    }
  }
  return out;
}

// Issues a peer certificate for `csr_pem`'s key with the node's names and records nothing.
Result<std::pair<pki::Certificate, store::IssuedCert>> IssueNodeCert(
    const ClusterCa& ca, const std::string& node, const std::vector<std::string>& dns,
    const std::vector<std::string>& ips, const std::string& csr_pem, std::chrono::seconds validity,
    core::TimePoint now, core::Rng& rng) {
  auto csr = pki::Csr::Parse(csr_pem);
  if (!csr) {
    return csr.error().WithContext("csr");
  }
  const core::TimePoint ca_not_after = ca.issuing.certificate().not_after();
  const auto remaining = std::chrono::duration_cast<std::chrono::seconds>(ca_not_after - now -
                                                                          std::chrono::minutes(1));
  validity = std::min(validity, remaining);
  if (remaining < std::chrono::seconds(30)) {
    return Fail(ErrorCode::kExpired,
                "node certificate: the issuing CA expires on " + core::FormatTime(ca_not_after));
  }
  pki::IssueRequest request{.profile = pki::Profile::kPeer,
                            .common_name = node,
                            .sans = pki::SubjectAltNames{.dns = dns, .ips = ips},
                            .validity = validity};
  CTLS_ASSIGN_OR_RETURN(pki::Certificate cert,
                        ca.issuing.Issue(request, csr->public_key(), now, rng));
  CTLS_ASSIGN_OR_RETURN(
      store::IssuedCert record,
      IssuedRecordFromDer(cert.ToDer(), ca.issuer_id, "peer", now, NodeActor(node)));
  return std::make_pair(std::move(cert), std::move(record));
}

}  // namespace

std::string NodeActor(std::string_view node) { return "node:" + std::string(node); }

Result<void> CheckNodeName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument, "node name \"" + std::string(name) + "\": " + why);
  };
  if (name.empty() || name.size() > 63) {
    return bad("must be 1 to 63 characters");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return bad("only lower-case letters, digits and '-' are allowed");
    }
  }
  if (name.front() == '-' || name.back() == '-') {
    return bad("must not start or end with '-'");
  }
  return {};
}

std::string JsonArray(const std::vector<std::string>& items) { return json(items).dump(); }

std::vector<std::string> ParseJsonArray(const std::string& text) {
  std::vector<std::string> out;
  json j = json::parse(text, nullptr, false);
  if (j.is_array()) {
    for (const auto& item : j) {
      if (item.is_string()) {
        out.push_back(item.get<std::string>());
      }
    }
  }
  return out;
}

Result<NewNodeToken> CreateNodeToken(store::Store& store, const NodeTokenRequest& request,
                                     core::TimePoint now, core::Rng& rng) {
  CTLS_RETURN_IF_ERROR(CheckNodeName(request.node));
  CTLS_ASSIGN_OR_RETURN(auto dns, CanonicalList(request.dns, "dns", false));
  CTLS_ASSIGN_OR_RETURN(auto ips, CanonicalList(request.ips, "ip", true));
  if (dns.size() + ips.size() + 1 > pki::kMaxSubjectAltNames) {
    return Fail(ErrorCode::kInvalidArgument,
                "dns, ip: at most " + std::to_string(pki::kMaxSubjectAltNames - 1) + " names");
  }
  CTLS_ASSIGN_OR_RETURN(auto assign, CheckAssign(store, request.assign));
  if (request.ttl < kMinTokenTtl || request.ttl > kMaxTokenTtl) {
    return Fail(ErrorCode::kInvalidArgument,
                "ttl: " + std::to_string(request.ttl.count()) + " s is outside 60 s .. 7 days");
  }
  CTLS_ASSIGN_OR_RETURN(NewToken generated, GenerateToken(rng));
  NewNodeToken out;
  out.id = generated.id;
  out.token = std::string(kNodeTokenPrefix) + generated.token.substr(generated.token.find('_') + 1);
  out.expires_at = now + request.ttl;
  store::NodeToken record{.id = out.id,
                          .hash = TokenHash(out.token),
                          .node = request.node,
                          .dns_json = JsonArray(dns),
                          .ips_json = JsonArray(ips),
                          .assign_json = JsonArray(assign),
                          .created_at = now,
                          .expires_at = out.expires_at,
                          .created_by = request.actor};
  const store::AuditInput audit =
      Audit(now, request.actor, "node.token.create", request.node, request.source,
            json{{"token_id", out.id},
                 {"dns", dns},
                 {"ip", ips},
                 {"assign", assign},
                 {"expires_at", core::FormatTime(out.expires_at)}});
  CTLS_RETURN_IF_ERROR(store.CreateNodeToken(record, std::span(&audit, 1), AuditHash));
  return out;
}

Result<NodeCertificate> EnrollNode(store::Store& store, const ClusterCa& ca,
                                   const EnrollRequest& request, core::TimePoint now,
                                   core::Rng& rng, std::string* detail) {
  auto refuse = [&](std::string why) -> Result<NodeCertificate> {
    if (detail != nullptr) {
      *detail = std::move(why);
    }
    return Fail(ErrorCode::kPermissionDenied, kInvalidToken);
  };
  if (!request.token.starts_with(kNodeTokenPrefix) || request.token.size() > 200) {
    return refuse("not of the form ctlsnode_<id>_<secret>");
  }
  const std::string hash = TokenHash(request.token);
  auto token = store.GetNodeTokenByHash(hash);
  if (!token) {
    if (token.error().code == ErrorCode::kNotFound) {
      return refuse("unknown token");
    }
    return token.error();
  }
  if (token->used_at) {
    return refuse("token " + token->id + " was already used at " +
                  core::FormatTime(*token->used_at));
  }
  if (token->expires_at <= now) {
    return refuse("token " + token->id + " expired at " + core::FormatTime(token->expires_at));
  }
  const std::vector<std::string> dns = ParseJsonArray(token->dns_json);
  const std::vector<std::string> ips = ParseJsonArray(token->ips_json);
  CTLS_ASSIGN_OR_RETURN(auto issued, IssueNodeCert(ca, token->node, dns, ips, request.csr_pem,
                                                   request.validity, now, rng));
  const store::IssuedCert& record = issued.second;
  store::Node node{.name = token->node,
                   .dns_json = token->dns_json,
                   .ips_json = token->ips_json,
                   .assign_json = token->assign_json,
                   .cert_serial = record.serial_hex,
                   .cert_not_after = record.not_after,
                   .enrolled_at = now};
  const std::string actor = NodeActor(token->node);
  const std::vector<store::AuditInput> audit = {
      Audit(now, actor, "node.enroll", token->node, request.source,
            json{{"token_id", token->id}, {"serial", record.serial_hex}}),
      CertSignAudit(record, actor, request.source)};
  auto enrolled = store.EnrollNode(hash, now, node, record, audit, AuditHash);
  if (!enrolled) {
    const core::ErrorCode code = enrolled.error().code;
    if (code == ErrorCode::kPermissionDenied || code == ErrorCode::kExpired ||
        code == ErrorCode::kNotFound) {
      return refuse(enrolled.error().message);
    }
    return enrolled.error();
  }
  return NodeCertificate{.node = token->node,
                         .certificate_pem = issued.first.ToPem(),
                         .serial_hex = record.serial_hex,
                         .not_after = record.not_after,
                         .assign = ParseJsonArray(token->assign_json)};
}

Result<store::Node> NodeOfCertificate(store::Store& store, const pki::Certificate& cert,
                                      core::TimePoint now) {
  const std::string serial = cert.serial_hex();
  auto deny = [&](const std::string& why) {
    return Fail(ErrorCode::kPermissionDenied, "node certificate " + serial + " " + why);
  };
  auto record = store.GetIssued(serial);
  if (!record) {
    if (record.error().code == ErrorCode::kNotFound) {
      return deny("was not issued by this cluster");
    }
    return record.error();
  }
  // The DER must be the recorded one: a serial alone does not identify a certificate.
  if (std::string(record->der.begin(), record->der.end()) != cert.ToDer()) {
    return deny("does not match the recorded certificate");
  }
  if (!record->issued_by.starts_with("node:") || record->profile != "peer") {
    return deny("is not a node certificate");
  }
  if (record->revoked_at) {
    return deny("is revoked (" + record->revocation_reason + ")");
  }
  if (record->not_after <= now) {
    return deny("expired at " + core::FormatTime(record->not_after) +
                ": enroll the node again with a new token");
  }
  const std::string name = record->issued_by.substr(5);
  auto node = store.GetNode(name);
  if (!node) {
    if (node.error().code == ErrorCode::kNotFound) {
      return deny("belongs to node \"" + name + "\", which was removed");
    }
    return node.error();
  }
  return node;
}

Result<NodeCertificate> RenewNode(store::Store& store, const ClusterCa& ca, const store::Node& node,
                                  const std::string& csr_pem, std::chrono::seconds validity,
                                  core::TimePoint now, core::Rng& rng, const std::string& source) {
  CTLS_ASSIGN_OR_RETURN(auto issued,
                        IssueNodeCert(ca, node.name, ParseJsonArray(node.dns_json),
                                      ParseJsonArray(node.ips_json), csr_pem, validity, now, rng));
  const store::IssuedCert& record = issued.second;
  const std::string actor = NodeActor(node.name);
  const std::vector<store::AuditInput> audit = {
      Audit(now, actor, "node.renew", node.name, source,
            json{{"previous_serial", node.cert_serial}, {"serial", record.serial_hex}}),
      CertSignAudit(record, actor, source)};
  CTLS_RETURN_IF_ERROR(store.RenewNodeCert(node.name, record, audit, AuditHash));
  return NodeCertificate{.node = node.name,
                         .certificate_pem = issued.first.ToPem(),
                         .serial_hex = record.serial_hex,
                         .not_after = record.not_after,
                         .assign = ParseJsonArray(node.assign_json)};
}

Result<void> AssignNode(store::Store& store, const std::string& node,
                        const std::vector<std::string>& assign, const std::string& actor,
                        const std::string& source, core::TimePoint now) {
  CTLS_RETURN_IF_ERROR(CheckNodeName(node));
  CTLS_ASSIGN_OR_RETURN(auto checked, CheckAssign(store, assign));
  const store::AuditInput audit =
      Audit(now, actor, "node.assign", node, source, json{{"assign", checked}});
  return store.AssignNode(node, JsonArray(checked), std::span(&audit, 1), AuditHash);
}

Result<std::vector<std::string>> RemoveNode(store::Store& store, const std::string& node,
                                            const std::string& actor, const std::string& source,
                                            core::TimePoint now) {
  CTLS_RETURN_IF_ERROR(CheckNodeName(node));
  const std::string reason = "cessationOfOperation";
  const store::AuditInput audit =
      Audit(now, actor, "node.remove", node, source, json{{"reason", reason}});
  return store.RemoveNode(node, NodeActor(node), now, reason, std::span(&audit, 1), AuditHash);
}

}  // namespace clustertls::authority
