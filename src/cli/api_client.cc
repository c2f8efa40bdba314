#include "cli/api_client.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "cli/client_config.h"
#include "core/files.h"

namespace clustertls::cli {

using core::ErrorCode;
using json = nlohmann::json;

// --- credentials ----------------------------------------------------------------------------

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? v : nullptr;
}

// Reads one line from the controlling terminal, without echo when `secret`. nullopt when there
// is no terminal.
std::optional<std::string> Prompt(const std::string& prompt, bool secret) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  termios saved{};
  const bool have_termios = ::tcgetattr(fd, &saved) == 0;
  if (secret && have_termios) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  std::string line;
  char c = 0;
  while (::read(fd, &c, 1) == 1 && c != '\n') {
    line.push_back(c);
  }
  if (secret && have_termios) {
    ::tcsetattr(fd, TCSAFLUSH, &saved);
    (void)!::write(fd, "\n", 1);
  }
  ::close(fd);
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  return line;
}

// The user name: the flag, else $CLUSTERTLS_USER, else a prompt on the terminal.
core::Result<std::string> ResolveUser(const std::string& flag, const std::string& flag_name) {
  if (!flag.empty()) {
    return flag;
  }
  if (const char* env = Env("CLUSTERTLS_USER")) {
    return std::string(env);
  }
  if (auto typed = Prompt("user: ", false); typed && !typed->empty()) {
    return *typed;
  }
  return UsageError("no user name: pass " + flag_name + " or set CLUSTERTLS_USER");
}

// A password: the file, else $CLUSTERTLS_PASSWORD, else a no-echo prompt on the terminal.
core::Result<std::string> ResolvePassword(const std::string& file, const std::string& user,
                                          const std::string& flag_name) {
  if (!file.empty()) {
    return core::ReadPassphraseFile(file);
  }
  if (const char* env = Env("CLUSTERTLS_PASSWORD")) {
    return std::string(env);
  }
  if (auto typed = Prompt("password for " + user + ": ", true); typed && !typed->empty()) {
    return *typed;
  }
  return UsageError("no password for " + user + ": pass " + flag_name +
                    " or set CLUSTERTLS_PASSWORD");
}

std::string BasicAuth(const std::string& user, const std::string& password) {
  // RFC 7617 section 2: base64(user-id ":" password).
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + password;
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63],
            kAlphabet[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return "Basic " + out;
}

// Percent-encodes a path segment (RFC 3986 section 2.1).
std::string PathSegment(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

// --- talking to the server ------------------------------------------------------------------

// Adds --client-config and the authentication options; `plain_auth_names` also accepts them as
// --user / --password-file (commands where those flags mean something else do not).
void AddApiOptions(CLI::App* cmd, ApiOptions& o, bool plain_auth_names, bool with_json) {
  cmd->add_option("--client-config", o.client_config,
                  "the client config written by `clustertls login` (default: "
                  "$CLUSTERTLS_CLIENT_CONFIG, else $XDG_CONFIG_HOME/clustertls/client.json or "
                  "~/.config/clustertls/client.json)");
  if (plain_auth_names) {
    cmd->add_option("--user,--auth-user", o.auth_user,
                    "authenticate as this user (Basic) instead of the saved token");
    cmd->add_option("--password-file,--auth-password-file", o.auth_password_file,
                    "the password for --user (whole file, one trailing newline ignored; else "
                    "$CLUSTERTLS_PASSWORD or a prompt)");
  } else {
    cmd->add_option("--auth-user", o.auth_user,
                    "authenticate as this user (Basic) instead of the saved token");
    cmd->add_option("--auth-password-file", o.auth_password_file,
                    "the password for --auth-user (else $CLUSTERTLS_PASSWORD or a prompt)");
  }
  if (with_json) {
    cmd->add_flag("--json", o.json, "print the server's JSON");
  }
}

// A server error as one line: its message and the HTTP status.
core::Error ServerError(const net::ClientResponse& response) {
  std::string message;
  json body = json::parse(response.body, nullptr, false);
  if (!body.is_discarded() && body.is_object() && body.contains("error") &&
      body["error"].is_object() && body["error"].contains("message") &&
      body["error"]["message"].is_string()) {
    message = body["error"]["message"].get<std::string>();
  } else {
    message = response.body.substr(0, 200);
    for (char& c : message) {
      if (c == '\n' || c == '\r') {
        c = ' ';
      }
    }
  }
  const ErrorCode code = response.status == 404   ? ErrorCode::kNotFound
                         : response.status == 409 ? ErrorCode::kAlreadyExists
                         : response.status >= 500 ? ErrorCode::kInternal
                                                  : ErrorCode::kInvalidArgument;
  return core::Fail(code, "server: " + message + " (HTTP " + std::to_string(response.status) + ")");
}


core::Result<Api> Api::Open(const ApiOptions& o) {
  CTLS_ASSIGN_OR_RETURN(std::string path, ClientConfigPath(o.client_config));
  CTLS_ASSIGN_OR_RETURN(ClientConfig config, LoadClientConfig(path));
  CTLS_ASSIGN_OR_RETURN(net::HttpsUrl url, net::ParseHttpsUrl(config.server));
  Api api;
  api.server_ = url.ToString();
  api.ca_pem_ = config.ca_pem;
  if (!o.auth_user.empty()) {
    CTLS_ASSIGN_OR_RETURN(std::string password,
                          ResolvePassword(o.auth_password_file, o.auth_user, "--password-file"));
    api.authorization_ = BasicAuth(o.auth_user, password);
  } else if (const char* token = Env("CLUSTERTLS_TOKEN")) {
    api.authorization_ = std::string("Bearer ") + token;
  } else if (!config.token.empty()) {
    api.authorization_ = "Bearer " + config.token;
  } else if (!config.user.empty()) {
    CTLS_ASSIGN_OR_RETURN(std::string password,
                          ResolvePassword(o.auth_password_file, config.user, "--password-file"));
    api.authorization_ = BasicAuth(config.user, password);
  } else {
    return UsageError(path + " holds no token: run clustertls login, or pass --user");
  }
  CTLS_ASSIGN_OR_RETURN(api.client_,
                        net::HttpsClient::Connect({.url = url,
                                                   .ca_pem = config.ca_pem,
                                                   .check_peer = ClusterApiCheck(config.ca_pem)}));
  return api;
}

core::Result<net::ClientResponse> Api::Raw(const std::string& method, const std::string& target,
                                           const std::optional<json>& body) {
  net::ClientRequest request{.method = method,
                             .target = target,
                             .headers = {{"Authorization", authorization_}},
                             .body = body ? body->dump() : std::string()};
  CTLS_ASSIGN_OR_RETURN(net::ClientResponse response, client_->Send(request));
  if (response.status < 200 || response.status >= 300) {
    return ServerError(response);
  }
  return response;
}

// --- output ---------------------------------------------------------------------------------

std::string Str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) {
    return "-";
  }
  const json& v = j[key];
  if (v.is_string()) {
    return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  }
  if (v.is_array()) {
    std::string out;
    for (const json& e : v) {
      out += (out.empty() ? "" : ",") + (e.is_string() ? e.get<std::string>() : e.dump());
    }
    return out.empty() ? "-" : out;
  }
  return v.dump();
}

// Prints rows under a header, columns padded to their widest cell.
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) {
    width[i] = header[i].size();
    for (const auto& row : rows) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      text += cells[i];
      if (i + 1 < cells.size()) {
        text += std::string(width[i] - cells[i].size() + 2, ' ');
      }
    }
    out << text << '\n';
  };
  line(header);
  for (const auto& row : rows) {
    line(row);
  }
}

void PrintJson(Context& ctx, const json& j) { ctx.out << j.dump(2) << '\n'; }

}  // namespace clustertls::cli
