#pragma once

// What every API client command shares (login, cluster, users, tokens, audit, sign, revoke,
// crl fetch): the saved client config, credentials, the verified HTTPS connection to the control
// plane, server errors as one line, and table/JSON output. docs/api.md is the contract.

#include <CLI/CLI.hpp>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/common.h"
#include "core/result.h"
#include "net/https_client.h"

namespace clustertls::cli {

// An environment variable's value; nullptr when unset or empty.
const char* Env(const char* name);

// Reads one line from the controlling terminal (/dev/tty), without echo when `secret`. nullopt
// when there is no terminal.
std::optional<std::string> Prompt(const std::string& prompt, bool secret);

// The user name: the flag, else $CLUSTERTLS_USER, else a prompt on the terminal (usage error
// naming `flag_name` when none).
core::Result<std::string> ResolveUser(const std::string& flag, const std::string& flag_name);

// A password: the file, else $CLUSTERTLS_PASSWORD, else a no-echo prompt on the terminal.
core::Result<std::string> ResolvePassword(const std::string& file, const std::string& user,
                                          const std::string& flag_name);

// The Authorization header value for RFC 7617 Basic authentication.
std::string BasicAuth(const std::string& user, const std::string& password);

// Percent-encodes a path segment (RFC 3986 section 2.1).
std::string PathSegment(std::string_view s);

// The options every API command has.
struct ApiOptions {
  std::string client_config;
  std::string auth_user;
  std::string auth_password_file;
  bool json = false;
};

// Adds --client-config and the authentication options; `plain_auth_names` also accepts them as
// --user / --password-file (commands where those flags mean something else do not);
// `with_json` adds --json.
void AddApiOptions(CLI::App* cmd, ApiOptions& o, bool plain_auth_names, bool with_json);

// A server error as one line: its message and the HTTP status (404 kNotFound, 409
// kAlreadyExists, 5xx kInternal, else kInvalidArgument).
core::Error ServerError(const net::ClientResponse& response);

// A verified connection to the control plane named by the saved client config, with the
// credentials of the options (Basic), $CLUSTERTLS_TOKEN or the saved token (Bearer).
class Api {
 public:
  // Loads the client config and connects. Errors name the config file or the server.
  static core::Result<Api> Open(const ApiOptions& o);

  // Sends a request and returns the raw response of a 2xx answer; a server error otherwise.
  core::Result<net::ClientResponse> Raw(const std::string& method, const std::string& target,
                                        const std::optional<nlohmann::json>& body = std::nullopt);

  // Sends a request and returns the response JSON of a 2xx answer; a server error otherwise.
  core::Result<nlohmann::json> Call(const std::string& method, const std::string& target,
                                    const std::optional<nlohmann::json>& body = std::nullopt) {
    return CallAs<nlohmann::json>(method, target, body);
  }

  // The same, parsed as JsonT (ordered_json keeps the server's key order).
  template <typename JsonT>
  core::Result<JsonT> CallAs(const std::string& method, const std::string& target,
                             const std::optional<nlohmann::json>& body = std::nullopt) {
    CTLS_ASSIGN_OR_RETURN(net::ClientResponse response, Raw(method, target, body));
    JsonT parsed = JsonT::parse(response.body, nullptr, false);
    if (parsed.is_discarded()) {
      return core::Fail(core::ErrorCode::kParse,
                        "server: the response to " + method + " " + target + " is not JSON");
    }
    return parsed;
  }

  // The server's base URL, "https://host:port".
  const std::string& server() const { return server_; }
  // The certificate `clustertls login` pinned (PEM): the cluster's root or issuing CA, or the
  // `api` certificate itself.
  const std::string& ca_pem() const { return ca_pem_; }

 private:
  std::unique_ptr<net::HttpsClient> client_;
  std::string authorization_;
  std::string server_;
  std::string ca_pem_;
};

// `j[key]` for a table cell: strings as they are, arrays joined with ",", "-" when missing or
// empty, anything else as JSON.
std::string Str(const nlohmann::json& j, const char* key);

// Prints rows under a header, columns padded to their widest cell.
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// Prints `j` indented on ctx.out.
void PrintJson(Context& ctx, const nlohmann::json& j);

// Registers `cmd` to open the API with `o->api` and run `fn(*o, api, ctx)`.
template <typename Options, typename Fn>
void OnApi(CLI::App* cmd, Action* action, std::shared_ptr<Options> o, Fn fn) {
  cmd->callback([action, o, fn] {
    *action = [o, fn](Context& ctx) -> core::Result<int> {
      CTLS_ASSIGN_OR_RETURN(Api api, Api::Open(o->api));
      return fn(*o, api, ctx);
    };
  });
}

}  // namespace clustertls::cli
