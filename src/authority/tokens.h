#pragma once

// API tokens and their rules: who may make one for whom, how long it lives, who may delete it.
// Every change commits in one store transaction with its audit entry (token.create,
// token.delete).

#include <string>

#include "authority/audited.h"
#include "authority/name_policy.h"
#include "core/result.h"
#include "core/rng.h"
#include "core/time.h"
#include "store/store.h"

namespace clustertls::authority {

inline constexpr int kDefaultTokenDays = 90;
inline constexpr int kMaxTokenDays = 3650;

// Who asks: a user may manage its own tokens, an admin everyone's.
struct TokenRequester {
  std::string user;
  bool is_admin = false;
};

// A token to make.
struct TokenRequest {
  std::string owner;             // the user the token acts as
  int days = kDefaultTokenDays;  // 1..kMaxTokenDays
  NamePolicy name_policy{};      // empty: none
};

// What CreateToken made: the record as stored and the secret, shown once.
struct CreatedToken {
  store::ApiToken record;
  std::string token;
};

// Makes a token for `request.owner` with its "token.create" audit entry (target: the id;
// details: user, expires_at, name_policy if any) in one transaction. kPermissionDenied unless
// the requester is the owner or an admin; kNotFound ("user "x": no such user");
// kInvalidArgument for days out of range.
core::Result<CreatedToken> CreateToken(store::Store& store, const TokenRequest& request,
                                       const TokenRequester& requester, const ChangeBy& by,
                                       const core::Clock& clock, core::Rng& rng);

// Deletes token `id` with its "token.delete" audit entry (details: user) in one transaction and
// returns the deleted record. kNotFound ("token "x": no such token") also when the token is
// another user's and the requester is not an admin (its existence is not revealed).
core::Result<store::ApiToken> DeleteToken(store::Store& store, const std::string& id,
                                          const TokenRequester& requester, const ChangeBy& by,
                                          const core::Clock& clock);

}  // namespace clustertls::authority
