#include "server/api.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "server/http_error.h"
#include "server/router.h"
#include "server/routes/common.h"
#include "server/routes/routes.h"

namespace clustertls::server {

struct Api::Impl {
  ApiOptions o;
  Router router;

  explicit Impl(ApiOptions options)
      : o(std::move(options)),
        router(RouterOptions{.authenticator = o.authenticator, .metrics = o.metrics}) {
    // One call per resource (server/routes/routes.h); the order does not matter.
    AddHealthRoutes(router, o);
    AddClusterRoutes(router, o);
    AddCaRoutes(router, o);
    AddCertificateRoutes(router, o);
    AddUserRoutes(router, o);
    AddTokenRoutes(router, o);
    AddAuditRoutes(router, o);
    AddNodeRoutes(router, o);
  }
};

Api::Api(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Api::~Api() = default;

core::Result<std::unique_ptr<Api>> Api::Create(const ApiOptions& options) {
  if (options.store == nullptr || options.authority == nullptr || options.sealing_key == nullptr ||
      options.authenticator == nullptr || options.metrics == nullptr || options.clock == nullptr ||
      options.rng == nullptr || options.revocation == nullptr || options.crl == nullptr ||
      options.ocsp == nullptr) {
    return core::Fail(core::ErrorCode::kInvalidArgument, "Api: a required dependency is null");
  }
  return std::unique_ptr<Api>(new Api(std::make_unique<Impl>(options)));
}

std::string Api::RoutePattern(const std::string& target) {
  static const Impl* const kRoutes = [] {
    // Routing needs no dependencies: a table-only instance.
    return new Impl(ApiOptions{});
  }();
  const Router::Route* r = kRoutes->router.Match(Router::PathOf(target), nullptr);
  return r == nullptr ? "other" : r->pattern;
}

void Api::Handle(net::Request request, const net::ConnectionInfo& connection,
                 net::Respond respond) {
  Run(std::move(request), connection, std::move(respond), /*public_only=*/false);
}

void Api::HandlePublic(net::Request request, const net::ConnectionInfo& connection,
                       net::Respond respond) {
  Run(std::move(request), connection, std::move(respond), /*public_only=*/true);
}

void Api::Run(net::Request request, const net::ConnectionInfo& connection, net::Respond respond,
              bool public_only) {
  auto start = std::chrono::steady_clock::now();
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->connection = connection;
  call->path = Router::PathOf(call->request.target);
  const Router::Route* route = impl_->router.Match(call->path, &call->params);
  if (public_only && route != nullptr && !route->options.public_listener) {
    route = nullptr;
  }
  std::string pattern = route == nullptr ? "other" : route->pattern;
  std::string method = call->request.method;
  if (method.size() > 16) {
    method = "other";
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  Metrics* metrics = impl_->o.metrics;
  net::Respond once = [respond = std::move(respond), done, metrics, pattern, method, start,
                       call](net::Response response) {
    if (done->exchange(true)) {
      return;
    }
    metrics->ObserveRequest(method, pattern, response.status,
                            std::chrono::steady_clock::now() - start);
    respond(std::move(response));
  };
  try {
    impl_->router.Dispatch(*call, route, once, public_only);
  } catch (const std::exception& e) {
    once(Error(core::Fail(core::ErrorCode::kInternal, "exception in " + pattern, e.what())));
  } catch (...) {
    once(Error(core::Fail(core::ErrorCode::kInternal, "unknown exception in " + pattern)));
  }
}

net::Response Api::HandleSync(net::Request request, const net::ConnectionInfo& connection) {
  auto promise = std::make_shared<std::promise<net::Response>>();
  std::future<net::Response> future = promise->get_future();
  Handle(std::move(request), connection,
         [promise](net::Response response) { promise->set_value(std::move(response)); });
  return future.get();
}

net::Response Api::HandlePublicSync(net::Request request, const net::ConnectionInfo& connection) {
  auto promise = std::make_shared<std::promise<net::Response>>();
  std::future<net::Response> future = promise->get_future();
  HandlePublic(std::move(request), connection,
               [promise](net::Response response) { promise->set_value(std::move(response)); });
  return future.get();
}

}  // namespace clustertls::server
