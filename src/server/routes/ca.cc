// The CA: its chain, signing (POST /v1/ca/sign), the CRLs and OCSP.

#include <memory>
#include <string>

#include "core/encoding.h"
#include "pki/ocsp.h"
#include "server/http_error.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

namespace {

// An OCSP request is a few hundred bytes; docs/api.md: bodies over 64 KiB get 413.
constexpr std::size_t kMaxOcspRequestBytes = 64 * 1024;

// The responseStatus name of a DER OCSPResponse (RFC 6960 section 4.2.1: SEQUENCE { ENUMERATED
// responseStatus, ... }), for the metrics label.
std::string OcspStatusName(std::string_view der) {
  std::size_t i = 2;
  if (der.size() < 5 || static_cast<unsigned char>(der[0]) != 0x30) {
    return "other";
  }
  unsigned char len = static_cast<unsigned char>(der[1]);
  if (len & 0x80) {
    i += len & 0x7f;
  }
  if (der.size() < i + 3 || der[i] != 0x0a || der[i + 1] != 0x01) {
    return "other";
  }
  switch (der[i + 2]) {
    case 0:
      return "successful";
    case 1:
      return "malformedRequest";
    case 2:
      return "internalError";
    case 3:
      return "tryLater";
    case 5:
      return "sigRequired";
    case 6:
      return "unauthorized";
    default:
      return "other";
  }
}

net::Response CaChain(const ApiOptions& o) {
  net::Response r;
  r.content_type = "application/x-pem-file";
  r.body = o.authority->ca().chain_pem;
  return r;
}

void Sign(const ApiOptions& o, Call& call, const net::Respond& respond) {
  auto csr = StringField(call.body, "csr", true);
  auto profile = StringField(call.body, "profile", false);
  auto days = IntField(call.body, "days", 1, 100000);
  auto allow_reserved = BoolField(call.body, "allow_reserved");
  for (const core::Error* e :
       {csr ? nullptr : &csr.error(), profile ? nullptr : &profile.error(),
        days ? nullptr : &days.error(), allow_reserved ? nullptr : &allow_reserved.error()}) {
    if (e != nullptr) {
      respond(Error(*e));
      return;
    }
  }
  if (allow_reserved->value_or(false) && call.principal.role != Role::kAdmin) {
    respond(Error(core::Fail(core::ErrorCode::kPermissionDenied,
                             "allow_reserved: only an admin may sign the names reserved for "
                             "the cluster's own certificates")));
    return;
  }
  authority::SignRequest request;
  request.name_policies = call.principal.name_policies;
  request.allow_reserved = allow_reserved->value_or(false);
  request.csr_pem = **csr;
  request.profile = profile->value_or("server");
  request.days = static_cast<int>(days->value_or(0));
  request.actor = call.principal.Describe();
  request.source = call.connection.remote_address;
  Metrics* metrics = o.metrics;
  std::string profile_name = request.profile;
  o.authority->SignAsync(
      request, [respond, metrics, profile_name](core::Result<authority::SignedCert> result) {
        if (!result) {
          respond(Error(result.error()));
          return;
        }
        metrics->CountIssued(profile_name);
        respond(Json({{"certificate", result->certificate_pem},
                      {"chain", result->chain_pem},
                      {"serial", result->serial_hex},
                      {"not_after", core::FormatTime(result->not_after)}},
                     201));
      });
}

// GET /v1/crl (the issuing CA's CRL, DER) and GET /v1/crl.pem: the issuing CA's CRL followed
// by the root CA's, so that one downloaded file holds a CRL for every CA of the chain (what
// nginx's ssl_crl and `openssl verify -crl_check_all` need). `openssl crl -in` reads the
// first.
net::Response Crl(const ApiOptions& o, bool pem) {
  std::shared_ptr<const authority::PublishedCrl> crl = o.crl->Current();
  net::Response r;
  r.content_type = pem ? "application/x-pem-file" : "application/pkix-crl";
  if (pem) {
    std::shared_ptr<const authority::RootCrl> root =
        o.root_crl == nullptr ? nullptr : o.root_crl->Current();
    r.body.reserve(crl->pem.size() + (root ? root->pem.size() : 0));
    r.body = crl->pem;
    if (root) {
      r.body += root->pem;
    }
  } else {
    r.body = crl->der;
  }
  r.headers.emplace_back("Cache-Control", "max-age=60");
  return r;
}

// GET /v1/crl/root(.pem): the root CA's CRL alone (root_crl.h). 404 for a cluster initialised
// before root CRLs existed, until `clustertls crl sign-root` makes one.
net::Response RootCrl(const ApiOptions& o, bool pem) {
  std::shared_ptr<const authority::RootCrl> root =
      o.root_crl == nullptr ? nullptr : o.root_crl->Current();
  if (!root) {
    return Error(core::Fail(core::ErrorCode::kNotFound,
                            "this cluster has no root CA CRL yet: sign one offline with "
                            "`clustertls crl sign-root --data-dir DIR --ca-passphrase-file FILE`"));
  }
  net::Response r;
  r.content_type = pem ? "application/x-pem-file" : "application/pkix-crl";
  r.body = pem ? root->pem : root->der;
  r.headers.emplace_back("Cache-Control", "max-age=60");
  return r;
}

// RFC 6960 appendix A.1: always 200 with an OCSPResponse, whatever the request.
net::Response Ocsp(const ApiOptions& o, std::string_view request_der) {
  net::Response r;
  r.content_type = "application/ocsp-response";
  if (request_der.empty()) {
    r.body = pki::OcspErrorResponse(pki::OcspErrorStatus::kMalformedRequest);
  } else {
    r.body = o.ocsp->Respond(request_der);
  }
  o.metrics->CountOcspResponse(OcspStatusName(r.body));
  return r;
}

// POST /ocsp. The Content-Type is not checked: application/ocsp-request is expected, but
// clients that send none (or curl's default) are answered all the same.
net::Response OcspPost(const ApiOptions& o, Call& call) {
  if (call.request.body.size() > kMaxOcspRequestBytes) {
    net::Response r = ErrorResponse(413, "body_too_large",
                                    "request body: " + std::to_string(call.request.body.size()) +
                                        " bytes; an OCSP request may have at most " +
                                        std::to_string(kMaxOcspRequestBytes));
    r.close = true;
    return r;
  }
  return Ocsp(o, call.request.body);
}

// GET /ocsp/{base64}: the route already percent-decoded it (%2B, %2F, %3D).
net::Response OcspGet(const ApiOptions& o, Call& call) {
  auto der = core::Base64Decode(call.params[0]);
  if (!der) {
    net::Response r;
    r.content_type = "application/ocsp-response";
    r.body = pki::OcspErrorResponse(pki::OcspErrorStatus::kMalformedRequest);
    o.metrics->CountOcspResponse("malformedRequest");
    return r;
  }
  return Ocsp(o, *der);
}

}  // namespace

void AddCaRoutes(Router& router, const ApiOptions& o) {
  const RouteOptions kPublic{.public_listener = true};
  router.Add("/v1/ca/chain", {Get(std::nullopt, Sync([&o](Call&) { return CaChain(o); }))},
             kPublic);
  router.Add("/v1/ca/sign",
             {WithBody("POST", Role::kOperator,
                       std::vector<std::string>{"csr", "profile", "days", "allow_reserved"},
                       [&o](Call& c, const net::Respond& r) { Sign(o, c, r); })});
  router.Add("/v1/crl", {Get(std::nullopt, Sync([&o](Call&) { return Crl(o, false); }))}, kPublic);
  router.Add("/v1/crl.pem", {Get(std::nullopt, Sync([&o](Call&) { return Crl(o, true); }))},
             kPublic);
  router.Add("/v1/crl/root", {Get(std::nullopt, Sync([&o](Call&) { return RootCrl(o, false); }))},
             kPublic);
  router.Add("/v1/crl/root.pem",
             {Get(std::nullopt, Sync([&o](Call&) { return RootCrl(o, true); }))}, kPublic);
  router.Add("/ocsp",
             {MethodSpec{.method = "POST",
                         .min_role = std::nullopt,
                         .json_body = false,
                         .fields = {},
                         .fn = Sync([&o](Call& c) { return OcspPost(o, c); })}},
             kPublic);
  router.Add("/ocsp/{request}", {Get(std::nullopt, Sync([&o](Call& c) { return OcspGet(o, c); }))},
             {.rest = true, .public_listener = true});
}

}  // namespace clustertls::server
