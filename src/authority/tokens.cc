#include "authority/tokens.h"

#include <chrono>
#include <utility>

#include "authority/secrets.h"

namespace clustertls::authority {

using core::ErrorCode;
using core::Fail;

core::Result<CreatedToken> CreateToken(store::Store& store, const TokenRequest& request,
                                       const TokenRequester& requester, const ChangeBy& by,
                                       const core::Clock& clock, core::Rng& rng) {
  if (request.days < 1 || request.days > kMaxTokenDays) {
    return Fail(ErrorCode::kInvalidArgument, "expires_in_days: " + std::to_string(request.days) +
                                                 " is out of range 1.." +
                                                 std::to_string(kMaxTokenDays));
  }
  if (request.owner != requester.user && !requester.is_admin) {
    return Fail(ErrorCode::kPermissionDenied, "only an admin may create a token for another user");
  }
  const std::string no_such_user = "user \"" + request.owner + "\": no such user";
  if (auto owner = store.GetUser(request.owner); !owner) {
    if (owner.error().code == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound, no_such_user);
    }
    return owner.error();
  }
  CTLS_ASSIGN_OR_RETURN(NewToken token, GenerateToken(rng));
  const core::TimePoint now = clock.Now();
  CreatedToken out{.record = {.id = token.id,
                              .user = request.owner,
                              .hash = token.hash,
                              .created_at = now,
                              .expires_at = now + std::chrono::days(request.days),
                              .last_used = std::nullopt,
                              .name_policy = NamePolicyToJson(request.name_policy)},
                   .token = token.token};
  nlohmann::json details = {{"user", request.owner},
                            {"expires_at", core::FormatTime(*out.record.expires_at)}};
  if (!out.record.name_policy.empty()) {
    details["name_policy"] = StoredNamePolicyValue(out.record.name_policy);
  }
  auto done = store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    if (auto r = tx.CreateToken(out.record); !r) {
      // The owner was deleted since it was read.
      if (r.error().code == ErrorCode::kNotFound) {
        return Fail(ErrorCode::kNotFound, no_such_user);
      }
      return r.error();
    }
    return AuditIn(tx, by, now, "token.create", out.record.id, details);
  });
  if (!done) {
    return done.error();
  }
  return out;
}

core::Result<store::ApiToken> DeleteToken(store::Store& store, const std::string& id,
                                          const TokenRequester& requester, const ChangeBy& by,
                                          const core::Clock& clock) {
  const core::TimePoint now = clock.Now();
  store::ApiToken deleted;
  auto done = store.Transact([&](store::Transaction& tx) -> core::Result<void> {
    auto token = tx.GetToken(id);
    if (!token && token.error().code != ErrorCode::kNotFound) {
      return token.error();
    }
    if (!token || (!requester.is_admin && token->user != requester.user)) {
      return Fail(ErrorCode::kNotFound, "token \"" + id.substr(0, 64) + "\": no such token");
    }
    CTLS_RETURN_IF_ERROR(tx.DeleteToken(id));
    deleted = *token;
    return AuditIn(tx, by, now, "token.delete", id, {{"user", token->user}});
  });
  if (!done) {
    return done.error();
  }
  return deleted;
}

}  // namespace clustertls::authority
