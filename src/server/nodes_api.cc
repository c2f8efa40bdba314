#include "server/nodes_api.h"

#include <algorithm>
#include <charconv>
#include <utility>
#include <vector>

#include "authority/nodes.h"
#include "server/cluster_policy.h"
#include "server/http_error.h"

namespace clustertls::server {
namespace {

using json = nlohmann::json;
using core::ErrorCode;
using core::Fail;
using core::Result;

net::Response Json(const json& j, int status = 200) {
  return JsonResponse(j.dump(-1, ' ', false, json::error_handler_t::replace), status);
}

net::Response BadRequest(std::string message) {
  return ErrorResponse(Fail(ErrorCode::kInvalidArgument, std::move(message)));
}

// A list of strings from `body[field]` (absent: empty).
Result<std::vector<std::string>> StringList(const json& body, const char* field) {
  std::vector<std::string> out;
  if (!body.contains(field)) {
    return out;
  }
  const json& v = body[field];
  if (!v.is_array()) {
    return Fail(ErrorCode::kInvalidArgument, std::string(field) + ": must be an array of strings");
  }
  for (const json& item : v) {
    if (!item.is_string()) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(field) + ": must be an array of strings");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<std::string> RequiredString(const json& body, const char* field) {
  if (!body.contains(field) || !body[field].is_string() || body[field].get<std::string>().empty()) {
    return Fail(ErrorCode::kInvalidArgument, std::string(field) + ": required (a string)");
  }
  return body[field].get<std::string>();
}

// The value of `key` in the target's query string, if present (no percent-decoding: the values
// read here are digits and hex).
std::optional<std::string> QueryValue(const std::string& target, std::string_view key) {
  std::size_t q = target.find('?');
  if (q == std::string::npos) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(target).substr(q + 1);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

Result<std::int64_t> QueryInt(const std::string& target, std::string_view key,
                              std::int64_t fallback, std::int64_t max) {
  auto v = QueryValue(target, key);
  if (!v) {
    return fallback;
  }
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size() || out < 0 || out > max) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(key) + ": must be an integer from 0 to " + std::to_string(max));
  }
  return out;
}

json OptionalTime(const std::optional<core::TimePoint>& t) {
  return t ? json(core::FormatTime(*t)) : json(nullptr);
}

std::string Sha256Hex(std::string_view data) { return authority::TokenHash(data); }

constexpr const char* kNoNodeCertificate =
    "this route needs the node's certificate (mutual TLS); none was presented";

// 401 when no client certificate was presented (authentication missing), 403 when the one
// presented is not a current node's.
net::Response NodeRefused(const core::Error& error) {
  if (error.message == kNoNodeCertificate) {
    return ErrorResponse(401, "unauthorized", error.message);
  }
  return ErrorResponse(403, "forbidden", error.message);
}

}  // namespace

// ------------------------------------------------------------------------------------------
// NodeHub

NodeHub::NodeHub(const NodeHubOptions& options) : o_(options) {}

Result<std::unique_ptr<NodeHub>> NodeHub::Start(const NodeHubOptions& options) {
  if (options.store == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "NodeHub: null store");
  }
  std::unique_ptr<NodeHub> hub(new NodeHub(options));
  CTLS_ASSIGN_OR_RETURN(hub->version_, options.store->PeekCounter(store::kClusterStateCounter));
  hub->thread_ = std::thread([raw = hub.get()] { raw->Run(); });
  return hub;
}

NodeHub::~NodeHub() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::int64_t NodeHub::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

std::size_t NodeHub::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

void NodeHub::WaitAfter(std::int64_t after, std::chrono::milliseconds timeout,
                        std::function<void(std::int64_t)> fn) {
  std::int64_t now_version = 0;
  {
    std::lock_guard lock(mu_);
    if (version_ <= after && timeout.count() > 0 && !stopping_) {
      const std::uint64_t id = next_id_++;
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      const bool earliest = deadlines_.empty() || deadline < deadlines_.begin()->first;
      waiters_.emplace(id, Waiter{.after = after, .deadline = deadline, .fn = std::move(fn)});
      deadlines_.emplace(deadline, id);
      afters_.insert(after);
      if (earliest) {
        cv_.notify_all();  // the hub may need an earlier deadline
      }
      return;
    }
    now_version = version_;
  }
  fn(now_version);
}

Result<void> NodeHub::Bump() {
  CTLS_RETURN_IF_ERROR(o_.store->NextCounter(store::kClusterStateCounter));
  Poke();
  return {};
}

void NodeHub::Poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void NodeHub::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    auto wake = std::chrono::steady_clock::now() + o_.poll;
    if (!deadlines_.empty()) {
      wake = std::min(wake, deadlines_.begin()->first);
    }
    cv_.wait_until(lock, wake, [this, wake] {
      return stopping_ || poked_ || (!deadlines_.empty() && deadlines_.begin()->first < wake);
    });
    const bool stopping = stopping_;
    poked_ = false;
    lock.unlock();
    std::optional<std::int64_t> read;
    if (!stopping) {
      if (auto v = o_.store->PeekCounter(store::kClusterStateCounter); v) {
        read = *v;
      }
    }
    lock.lock();
    bool moved = read && *read > version_;
    if (moved) {
      version_ = *read;
    }
    // Collect the waiters to answer, then answer them without the lock.
    std::vector<std::function<void(std::int64_t)>> due;
    const auto now = std::chrono::steady_clock::now();
    auto take = [&](std::map<std::uint64_t, Waiter>::iterator it) {
      deadlines_.erase({it->second.deadline, it->first});
      afters_.erase(afters_.find(it->second.after));
      due.push_back(std::move(it->second.fn));
      return waiters_.erase(it);
    };
    if (stopping || (!afters_.empty() && *afters_.begin() < version_)) {
      // Shutdown, or the version moved past someone's: every waiter is visited.
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (stopping || it->second.after < version_ || it->second.deadline <= now) {
          it = take(it);
        } else {
          ++it;
        }
      }
    }
    // The waiters whose deadline passed: only those are visited.
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      take(waiters_.find(deadlines_.begin()->second));
    }
    const std::int64_t version = version_;
    lock.unlock();
    if (moved && o_.on_change) {
      o_.on_change();
    }
    for (auto& fn : due) {
      fn(version);
    }
    lock.lock();
    if (stopping) {
      // Waiters that arrived while answering are answered too (WaitAfter refuses new ones).
      if (waiters_.empty()) {
        return;
      }
    }
  }
}

// ------------------------------------------------------------------------------------------
// NodesApi

NodesApi::NodesApi(const NodesApiOptions& options) : o_(options) {}

net::Response NodesApi::CreateToken(const json& body, const NodesCaller& caller) {
  auto node = RequiredString(body, "node");
  if (!node) {
    return ErrorResponse(node.error());
  }
  auto dns = StringList(body, "dns");
  auto ips = StringList(body, "ip");
  auto assign = StringList(body, "assign");
  for (const auto* r : {&dns, &ips, &assign}) {
    if (!*r) {
      return ErrorResponse(r->error());
    }
  }
  std::chrono::seconds ttl = std::chrono::hours(1);
  if (body.contains("ttl_seconds")) {
    if (!body["ttl_seconds"].is_number_integer()) {
      return BadRequest("ttl_seconds: must be an integer");
    }
    ttl = std::chrono::seconds(body["ttl_seconds"].get<std::int64_t>());
  }
  auto created = authority::CreateNodeToken(*o_.store,
                                            {.node = *node,
                                             .dns = *dns,
                                             .ips = *ips,
                                             .assign = *assign,
                                             .ttl = ttl,
                                             .actor = caller.actor,
                                             .source = caller.source},
                                            o_.clock->Now(), *o_.rng);
  if (!created) {
    return ErrorResponse(created.error());
  }
  return Json({{"token", created->token},
               {"id", created->id},
               {"node", *node},
               {"expires_at", core::FormatTime(created->expires_at)}},
              201);
}

net::Response NodesApi::ListTokens() {
  auto tokens = o_.store->ListNodeTokens(o_.clock->Now());
  if (!tokens) {
    return ErrorResponse(tokens.error());
  }
  json out = json::array();
  for (const store::NodeToken& t : *tokens) {
    out.push_back({{"id", t.id},
                   {"node", t.node},
                   {"dns", authority::ParseJsonArray(t.dns_json)},
                   {"ip", authority::ParseJsonArray(t.ips_json)},
                   {"assign", authority::ParseJsonArray(t.assign_json)},
                   {"created_at", core::FormatTime(t.created_at)},
                   {"created_by", t.created_by},
                   {"expires_at", core::FormatTime(t.expires_at)}});
  }
  return Json({{"tokens", out}});
}

Result<std::vector<store::Node>> NodesApi::NodesSeen() {
  // The pending times first: a flush between the two reads leaves them in the store instead.
  std::unordered_map<std::string, core::TimePoint> pending;
  {
    std::lock_guard lock(seen_mu_);
    pending = seen_;
  }
  CTLS_ASSIGN_OR_RETURN(std::vector<store::Node> nodes, o_.store->ListNodes());
  for (store::Node& n : nodes) {
    auto it = pending.find(n.name);
    if (it != pending.end() && (!n.last_seen || *n.last_seen < it->second)) {
      n.last_seen = it->second;
    }
  }
  return nodes;
}

Result<void> NodesApi::FlushSeen(bool force) {
  std::unordered_map<std::string, core::TimePoint> batch;
  const core::TimePoint now = o_.clock->Now();
  {
    std::lock_guard lock(seen_mu_);
    if (!force && now - last_flush_ < std::min(o_.seen_flush, o_.long_poll)) {
      return {};
    }
    last_flush_ = now;
    batch.swap(seen_);
  }
  if (batch.empty()) {
    return {};
  }
  std::vector<std::pair<std::string, core::TimePoint>> rows(batch.begin(), batch.end());
  if (auto r = o_.store->RecordNodesSeen(rows); !r) {
    std::lock_guard lock(seen_mu_);
    for (auto& [name, at] : batch) {
      auto [it, inserted] = seen_.try_emplace(name, at);
      if (!inserted && it->second < at) {
        it->second = at;
      }
    }
    return r.error().WithContext("recording when " + std::to_string(rows.size()) +
                                 " nodes were last seen");
  }
  return {};
}

net::Response NodesApi::List() {
  auto nodes = NodesSeen();
  if (!nodes) {
    return ErrorResponse(nodes.error());
  }
  const std::int64_t desired = o_.hub->version();
  const core::TimePoint now = o_.clock->Now();
  json out = json::array();
  for (const store::Node& n : *nodes) {
    json hook = json::parse(n.last_hook_json, nullptr, false);
    if (!hook.is_object()) {
      hook = nullptr;
    }
    const bool stale = !n.last_seen || now - *n.last_seen > stale_after();
    out.push_back({{"name", n.name},
                   {"applied_version", n.applied_version},
                   {"desired_version", desired},
                   {"behind", n.applied_version < desired},
                   {"stale", stale},
                   {"last_seen", OptionalTime(n.last_seen)},
                   {"cert_serial", n.cert_serial},
                   {"cert_not_after", core::FormatTime(n.cert_not_after)},
                   {"assign", authority::ParseJsonArray(n.assign_json)},
                   {"dns", authority::ParseJsonArray(n.dns_json)},
                   {"ip", authority::ParseJsonArray(n.ips_json)},
                   {"agent_version", n.agent_version},
                   {"enrolled_at", core::FormatTime(n.enrolled_at)},
                   {"last_hook", hook}});
  }
  return Json({{"nodes", out}, {"version", desired}});
}

Result<std::string> NodesApi::MetricsText(std::vector<Metrics::Expiry>* expiries) {
  CTLS_ASSIGN_OR_RETURN(std::vector<store::Node> nodes, NodesSeen());
  const std::int64_t desired = o_.hub->version();
  const core::TimePoint now = o_.clock->Now();
  std::size_t stale = 0;
  std::size_t behind = 0;
  for (const store::Node& n : nodes) {
    if (!n.last_seen || now - *n.last_seen > stale_after()) {
      ++stale;
    }
    if (n.applied_version < desired) {
      ++behind;
    }
    expiries->push_back(
        {"node", n.name, static_cast<std::int64_t>(n.cert_not_after.time_since_epoch().count())});
  }
  return "# HELP clustertls_nodes Enrolled nodes: all, not seen for 3 long-poll periods, and "
         "behind the cluster state version.\n# TYPE clustertls_nodes gauge\n"
         "clustertls_nodes{state=\"total\"} " +
         std::to_string(nodes.size()) + "\nclustertls_nodes{state=\"stale\"} " +
         std::to_string(stale) + "\nclustertls_nodes{state=\"behind\"} " + std::to_string(behind) +
         "\n# HELP clustertls_cluster_state_version The cluster state "
         "version nodes should have applied.\n# TYPE clustertls_cluster_state_version gauge\n"
         "clustertls_cluster_state_version " +
         std::to_string(desired) + "\n";
}

net::Response NodesApi::Assign(const std::string& name, const json& body,
                               const NodesCaller& caller) {
  if (!body.contains("assign")) {
    return BadRequest("assign: required (an array of certificate names)");
  }
  auto assign = StringList(body, "assign");
  if (!assign) {
    return ErrorResponse(assign.error());
  }
  if (auto r = authority::AssignNode(*o_.store, name, *assign, caller.actor, caller.source,
                                     o_.clock->Now());
      !r) {
    return ErrorResponse(r.error());
  }
  o_.hub->Poke();
  return Json({{"node", name}, {"assign", *assign}});
}

net::Response NodesApi::Remove(const std::string& name, const NodesCaller& caller) {
  auto revoked =
      authority::RemoveNode(*o_.store, name, caller.actor, caller.source, o_.clock->Now());
  if (!revoked) {
    return ErrorResponse(revoked.error());
  }
  if (!revoked->empty()) {
    (void)o_.crl->Regenerate();  // the CRL the agents receive lists the node's certificates
  }
  o_.hub->Poke();
  return Json({{"removed", name}, {"revoked", *revoked}});
}

net::Response NodesApi::Enroll(const json& body, const net::ConnectionInfo& connection) {
  auto token = RequiredString(body, "token");
  if (!token) {
    return ErrorResponse(token.error());
  }
  auto csr = RequiredString(body, "csr");
  if (!csr) {
    return ErrorResponse(csr.error());
  }
  std::string detail;
  auto enrolled = authority::EnrollNode(*o_.store, *o_.ca,
                                        {.token = *token,
                                         .csr_pem = *csr,
                                         .source = connection.remote_address,
                                         .validity = o_.node_cert_validity},
                                        o_.clock->Now(), *o_.rng, &detail);
  if (!enrolled) {
    if (!detail.empty()) {
      std::fprintf(stderr, "clustertls serve: enrollment from %s refused: %s\n",
                   connection.remote_address.c_str(), detail.c_str());
    }
    if (enrolled.error().code == ErrorCode::kPermissionDenied) {
      return ErrorResponse(403, "forbidden", enrolled.error().message);
    }
    return ErrorResponse(enrolled.error());
  }
  o_.hub->Poke();
  return Json({{"node", enrolled->node},
               {"certificate", enrolled->certificate_pem},
               {"ca_chain", o_.ca->chain_pem},
               {"serial", enrolled->serial_hex},
               {"not_after", core::FormatTime(enrolled->not_after)},
               {"assign", enrolled->assign}},
              201);
}

Result<store::Node> NodesApi::AuthenticateNode(const net::ConnectionInfo& connection) {
  if (!connection.peer_certificate) {
    return Fail(ErrorCode::kPermissionDenied, kNoNodeCertificate);
  }
  return authority::NodeOfCertificate(*o_.store, *connection.peer_certificate, o_.clock->Now());
}

Result<store::Node> NodesApi::AuthenticateNodeCached(const net::ConnectionInfo& connection) {
  if (!connection.peer_certificate) {
    return Fail(ErrorCode::kPermissionDenied, kNoNodeCertificate);
  }
  const pki::Certificate& cert = *connection.peer_certificate;
  // Read before the check: a change committed during the check moves the version past it.
  const std::int64_t version = o_.hub->version();
  const std::int64_t crl_number = o_.crl->Current()->number;
  const core::TimePoint now = o_.clock->Now();
  std::string serial = cert.serial_hex();
  std::string der = cert.ToDer();
  {
    std::lock_guard lock(auth_mu_);
    auto it = auth_cache_.find(serial);
    if (it != auth_cache_.end() && it->second.version == version &&
        it->second.crl_number == crl_number && it->second.der == der &&
        now < it->second.not_after) {
      return it->second.node;
    }
  }
  CTLS_ASSIGN_OR_RETURN(store::Node node, authority::NodeOfCertificate(*o_.store, cert, now));
  std::lock_guard lock(auth_mu_);
  if (auth_cache_.size() >= 100'000) {
    auth_cache_.clear();  // a bound, far above any fleet's node count
  }
  auth_cache_[std::move(serial)] = Authenticated{.der = std::move(der),
                                                 .not_after = cert.not_after(),
                                                 .version = version,
                                                 .crl_number = crl_number,
                                                 .node = node};
  return node;
}

Result<std::shared_ptr<const NodesApi::Bundle>> NodesApi::BundleFor(const store::Node& node,
                                                                    std::int64_t version) {
  std::shared_ptr<const authority::PublishedCrl> crl = o_.crl->Current();
  std::shared_ptr<const authority::RootCrl> root_crl =
      o_.root_crl == nullptr ? nullptr : o_.root_crl->Current();
  const std::int64_t root_number = root_crl ? root_crl->number : 0;
  {
    std::lock_guard lock(cache_mu_);
    auto it = cache_.find(node.assign_json);
    if (it != cache_.end() && it->second.version == version &&
        it->second.crl_number == crl->number && it->second.root_crl_number == root_number) {
      return it->second.bundle;
    }
  }
  json files = json::array();
  auto add = [&](std::string name, std::string content, bool secret) {
    files.push_back(
        {{"name", std::move(name)}, {"content", std::move(content)}, {"secret", secret}});
  };
  add("ca.pem", o_.ca->chain_pem, false);
  add("crl.pem", crl->pem + (root_crl ? root_crl->pem : std::string()), false);
  // The cluster TLS policy, both paths, as GET /v1/cluster/policy shows it.
  ClusterPolicy policy;
  std::int64_t policy_version = 0;
  if (auto doc = o_.store->GetPolicy(); doc) {
    CTLS_ASSIGN_OR_RETURN(policy, ApplyPolicyJson(ClusterPolicy{}, doc->json));
    policy_version = doc->version;
  } else if (doc.error().code != ErrorCode::kNotFound) {
    return doc.error();
  }
  json policy_json = json::parse(PolicyToJson(policy), nullptr, false);
  if (!policy_json.is_object()) {
    policy_json = json::object();
  }
  policy_json["version"] = policy_version;
  add("policy.json", policy_json.dump(2) + "\n", false);
  for (const std::string& name : authority::ParseJsonArray(node.assign_json)) {
    auto named = authority::GetNamedCert(*o_.store, *o_.sealing_key, name);
    if (!named) {
      if (named.error().code == ErrorCode::kNotFound) {
        continue;  // deleted since it was assigned
      }
      return named.error().WithContext("certificate \"" + name + "\"");
    }
    std::string chain;
    for (const pki::Certificate& c : named->chain) {
      chain += c.ToPem();
    }
    CTLS_ASSIGN_OR_RETURN(std::string key_pem, named->key.ToPem());
    add(name + "_cert.pem", std::move(chain), false);
    add(name + "_key.pem", std::move(key_pem), true);
  }
  auto bundle = std::make_shared<Bundle>();
  bundle->files_json = files.dump();
  bundle->digest = Sha256Hex(bundle->files_json);
  {
    std::lock_guard lock(cache_mu_);
    cache_[node.assign_json] = Cached{.version = version,
                                      .crl_number = crl->number,
                                      .root_crl_number = root_number,
                                      .bundle = bundle};
  }
  return std::shared_ptr<const Bundle>(std::move(bundle));
}

void NodesApi::State(const net::Request& request, const net::ConnectionInfo& connection,
                     net::Respond respond) {
  auto node = AuthenticateNodeCached(connection);
  if (!node) {
    respond(NodeRefused(node.error()));
    return;
  }
  auto after = QueryInt(request.target, "after", -1, std::numeric_limits<std::int64_t>::max() - 1);
  // A longer wait than this server's long-poll period is cut to it.
  auto wait = QueryInt(request.target, "wait", 0, 3600);
  if (wait && *wait > o_.long_poll.count()) {
    *wait = o_.long_poll.count();
  }
  if (!after || !wait) {
    respond(ErrorResponse(!after ? after.error() : wait.error()));
    return;
  }
  std::string digest = QueryValue(request.target, "digest").value_or("");
  const core::TimePoint now = o_.clock->Now();
  {
    std::lock_guard lock(seen_mu_);
    seen_[node->name] = now;  // written by the next FlushSeen
  }
  const std::int64_t after_version = *after;
  auto answer = [this, node = *std::move(node), digest = std::move(digest),
                 respond](std::int64_t version) {
    auto bundle = BundleFor(node, version);
    if (!bundle) {
      respond(ErrorResponse(bundle.error()));
      return;
    }
    std::string body = "{\"version\":" + std::to_string(version) +
                       ",\"node\":" + json(node.name).dump() + ",\"digest\":\"" +
                       (*bundle)->digest + "\",";
    if (!digest.empty() && digest == (*bundle)->digest) {
      body += "\"unchanged\":true}";
    } else {
      body += "\"files\":" + (*bundle)->files_json + "}";
    }
    respond(JsonResponse(std::move(body)));
  };
  o_.hub->WaitAfter(after_version, std::chrono::seconds(*wait), std::move(answer));
}

net::Response NodesApi::Report(const json& body, const net::ConnectionInfo& connection) {
  auto node = AuthenticateNode(connection);
  if (!node) {
    return NodeRefused(node.error());
  }
  store::NodeReport report{.seen = o_.clock->Now()};
  if (body.contains("applied_version")) {
    if (!body["applied_version"].is_number_integer()) {
      return BadRequest("applied_version: must be an integer");
    }
    report.applied_version = body["applied_version"].get<std::int64_t>();
  }
  if (body.contains("agent_version")) {
    if (!body["agent_version"].is_string() ||
        body["agent_version"].get<std::string>().size() > 64) {
      return BadRequest("agent_version: must be a string of at most 64 characters");
    }
    report.agent_version = body["agent_version"].get<std::string>();
  }
  if (body.contains("hook")) {
    const json& hook = body["hook"];
    if (!hook.is_object() || !hook.contains("exit_code") ||
        !hook["exit_code"].is_number_integer()) {
      return BadRequest("hook: must be an object with an integer exit_code");
    }
    // Checked first: json::value() throws type_error (a 500) on a member of another type.
    if (hook.contains("output_tail") && !hook["output_tail"].is_string()) {
      return BadRequest("hook.output_tail: must be a string");
    }
    std::string tail = hook.value("output_tail", "");
    if (tail.size() > 4096) {
      tail = tail.substr(tail.size() - 4096);
    }
    json stored = {
        {"exit_code", hook["exit_code"].get<std::int64_t>()},
        {"output_tail", tail},
        {"at", hook.contains("at") && hook["at"].is_string() ? hook["at"].get<std::string>()
                                                             : core::FormatTime(report.seen)}};
    report.last_hook_json = stored.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (auto r = o_.store->ReportNode(node->name, report); !r) {
    return ErrorResponse(r.error());
  }
  return Json({{"node", node->name}, {"recorded", true}});
}

net::Response NodesApi::Renew(const json& body, const net::ConnectionInfo& connection) {
  auto node = AuthenticateNode(connection);
  if (!node) {
    return NodeRefused(node.error());
  }
  auto csr = RequiredString(body, "csr");
  if (!csr) {
    return ErrorResponse(csr.error());
  }
  auto renewed = authority::RenewNode(*o_.store, *o_.ca, *node, *csr, o_.node_cert_validity,
                                      o_.clock->Now(), *o_.rng, connection.remote_address);
  if (!renewed) {
    return ErrorResponse(renewed.error());
  }
  return Json({{"node", renewed->node},
               {"certificate", renewed->certificate_pem},
               {"ca_chain", o_.ca->chain_pem},
               {"serial", renewed->serial_hex},
               {"not_after", core::FormatTime(renewed->not_after)},
               {"assign", renewed->assign}},
              201);
}

}  // namespace clustertls::server
