#include "net/https_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "net/test_client_testutil.h"
#include "pki/test_pki_testutil.h"

namespace clustertls::net {
namespace {

using pki::Must;
using namespace std::chrono_literals;

// TLS peers verify with the wall clock, so test leaves stay valid until the intermediate ends
// (2030-12-30) rather than for the usual 90 days after kTestReferenceTime.
constexpr std::chrono::seconds kLeafValidity = std::chrono::days(1820);

// Echoes what the server saw, as the handler contract allows: a pure function of its inputs.
Response Echo(const Request& request, const ConnectionInfo& info) {
  std::string peer = info.peer_certificate ? info.peer_certificate->common_name() : "-";
  return Response{.status = 200,
                  .content_type = "text/plain",
                  .body = request.method + " " + request.target +
                          " body=" + std::to_string(request.body.size()) + " peer=" + peer + " " +
                          info.tls_version};
}

class HttpsServerTest : public ::testing::Test {
 protected:
  pki::TestPki pki_ = pki::MakeTestPki();
  pki::TestLeaf leaf_ = pki::IssueLeaf(pki_, "localhost", pki::Profile::kServer,
                                       pki::KeyType::kEcP256, kLeafValidity);

  TlsCredentials Credentials(const pki::TestLeaf& leaf) const {
    return TlsCredentials{.key = leaf.key,
                          .certificate = leaf.cert,
                          .chain = {pki_.intermediate},
                          .client_cas = {pki_.root}};
  }

  void StartAsyncServer(AsyncHandler handler, HttpsServerOptions options = {}) {
    store_ = Must(CredentialStore::Create(TlsPolicy{}, Credentials(leaf_)));
    options.threads = 2;
    server_ = Must(HttpsServer::Start(options, store_, std::move(handler)));
    ASSERT_NE(server_->port(), 0);
  }

  void StartServer(const TlsPolicy& policy = {}, HttpsServerOptions options = {},
                   Handler handler = Echo) {
    store_ = Must(CredentialStore::Create(policy, Credentials(leaf_)));
    options.threads = 2;
    server_ = Must(HttpsServer::Start(options, store_, std::move(handler)));
    ASSERT_NE(server_->port(), 0);
  }

  std::unique_ptr<TestTlsClient> Connect(TestClientOptions options = {}) {
    if (!options.trust_anchor) {
      options.trust_anchor = pki_.root;
    }
    return Must(TestTlsClient::Connect(server_->port(), options), "connect");
  }

  std::shared_ptr<CredentialStore> store_;
  std::unique_ptr<HttpsServer> server_;
};

TEST_F(HttpsServerTest, ServesGetsOverOneKeepAliveConnection) {
  StartServer();
  auto client = Connect();
  for (int i = 0; i < 3; ++i) {
    TestReply reply = Must(client->Get("/v1/x?i=" + std::to_string(i)));
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, "GET /v1/x?i=" + std::to_string(i) + " body=0 peer=- TLSv1.3");
    EXPECT_NE(reply.headers.find("Content-Type: text/plain"), std::string::npos);
  }
  EXPECT_EQ(server_->stats().connections_accepted, 1u);
  EXPECT_EQ(server_->stats().requests, 3u);
  EXPECT_TRUE(client->PeerCertificate().Equals(leaf_.cert));
}

TEST_F(HttpsServerTest, PostBodyAndExpectContinue) {
  StartServer();
  auto client = Connect();
  Must(
      client->Write("PUT /v1/cluster/update_cert HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Expect: 100-continue\r\n\r\n"));
  TestReply interim = Must(client->ReadReply());
  EXPECT_EQ(interim.status, 100);
  Must(client->Write("hello"));
  TestReply reply = Must(client->ReadReply());
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "PUT /v1/cluster/update_cert body=5 peer=- TLSv1.3");
}

TEST_F(HttpsServerTest, MinimumTls13RefusesTls12Clients) {
  StartServer(TlsPolicy{.min_version = TlsVersion::kTls13});
  EXPECT_FALSE(TestTlsClient::Connect(server_->port(), {.max_version = TLS1_2_VERSION}));
  SClientResult tls12 = RunSClient(server_->port(), "-tls1_2");
  EXPECT_NE(tls12.exit_code, 0) << tls12.output;
  SClientResult tls13 = RunSClient(server_->port(), "-tls1_3");
  EXPECT_EQ(tls13.exit_code, 0) << tls13.output;
  EXPECT_NE(tls13.output.find("Protocol version: TLSv1.3"), std::string::npos) << tls13.output;
  // The server still serves a TLS 1.3 client afterwards.
  EXPECT_EQ(Must(Connect()->Get("/")).status, 200);
}

TEST_F(HttpsServerTest, MinimumTls12RefusesTls11) {
  StartServer();
  // SECLEVEL 0 lifts the client's own cipher floor; Debian's libssl may still refuse TLS 1.1 on
  // the client side, so MinimumTls13RefusesTls12Clients is the test of the server's floor.
  SClientResult tls11 = RunSClient(server_->port(), "-tls1_1 -cipher DEFAULT@SECLEVEL=0");
  EXPECT_NE(tls11.exit_code, 0) << tls11.output;
  EXPECT_EQ(tls11.output.find("CONNECTION ESTABLISHED"), std::string::npos) << tls11.output;
  SClientResult tls12 = RunSClient(server_->port(), "-tls1_2");
  EXPECT_EQ(tls12.exit_code, 0) << tls12.output;
}

TEST_F(HttpsServerTest, RestrictedCipherListIsWhatClientsCanNegotiate) {
  StartServer(TlsPolicy{.cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384"});
  SClientResult excluded =
      RunSClient(server_->port(), "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_NE(excluded.exit_code, 0) << excluded.output;
  SClientResult allowed =
      RunSClient(server_->port(), "-tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_NE(allowed.output.find("Ciphersuite: ECDHE-ECDSA-AES256-GCM-SHA384"), std::string::npos)
      << allowed.output;
}

TEST_F(HttpsServerTest, SwappedCertificateGoesToNewConnectionsOnly) {
  StartServer();
  auto old_connection = Connect();
  EXPECT_EQ(Must(old_connection->Get("/before")).status, 200);

  pki::TestLeaf next = pki::IssueLeaf(pki_, "localhost", pki::Profile::kServer,
                                      pki::KeyType::kEcP256, kLeafValidity);
  Must(store_->Reload(TlsPolicy{}, Credentials(next)));
  auto deadline = std::chrono::steady_clock::now() + 1s;
  bool swapped = false;
  while (!swapped && std::chrono::steady_clock::now() < deadline) {
    swapped = Connect()->PeerCertificate().Equals(next.cert);
  }
  EXPECT_TRUE(swapped) << "new connections still see the old certificate after 1 s";

  // The open keep-alive connection goes on with its own snapshot.
  TestReply reply = Must(old_connection->Get("/after"));
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(old_connection->PeerCertificate().Equals(leaf_.cert));
}

TEST_F(HttpsServerTest, FailedReloadKeepsServingTheOldCertificate) {
  StartServer();
  TlsCredentials broken = Credentials(leaf_);
  broken.key = pki::TestKey(pki::KeyType::kEcP256, 7);
  EXPECT_FALSE(store_->Reload(TlsPolicy{}, broken));
  EXPECT_EQ(store_->failed_reloads(), 1u);
  auto client = Connect();
  EXPECT_TRUE(client->PeerCertificate().Equals(leaf_.cert));
  EXPECT_EQ(Must(client->Get("/")).status, 200);
}

TEST_F(HttpsServerTest, PolicySwapAppliesToNewConnections) {
  StartServer();
  auto tls12 = Must(TestTlsClient::Connect(
      server_->port(), {.max_version = TLS1_2_VERSION, .trust_anchor = pki_.root}));
  Must(store_->Reload(TlsPolicy{.min_version = TlsVersion::kTls13}, Credentials(leaf_)));
  EXPECT_FALSE(TestTlsClient::Connect(server_->port(), {.max_version = TLS1_2_VERSION}));
  EXPECT_EQ(Must(tls12->Get("/")).status, 200);  // the open TLS 1.2 connection continues
}

TEST_F(HttpsServerTest, OversizeBodyGets413) {
  StartServer({}, HttpsServerOptions{.max_body_bytes = 1024});
  auto client = Connect();
  Must(client->Write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n"));
  TestReply reply = Must(client->ReadReply());
  EXPECT_EQ(reply.status, 413);
  EXPECT_NE(reply.body.find("body_too_large"), std::string::npos);
  EXPECT_TRUE(client->WaitClosed());
  // Within the limit is fine.
  auto ok = Connect();
  Must(ok->Write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" +
                 std::string(1024, 'a')));
  EXPECT_EQ(Must(ok->ReadReply()).body, "POST / body=1024 peer=- TLSv1.3");
}

TEST_F(HttpsServerTest, OversizeHeaderGets431) {
  StartServer({}, HttpsServerOptions{.max_header_bytes = 2048});
  auto client = Connect();
  Must(client->Write("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'b') + "\r\n\r\n"));
  EXPECT_EQ(Must(client->ReadReply()).status, 431);
  EXPECT_TRUE(client->WaitClosed());
}

TEST_F(HttpsServerTest, GarbageGets400AndServerKeepsServing) {
  StartServer();
  auto client = Connect();
  Must(client->Write("\x01\x02 garbage \xff\r\n\r\n"));
  TestReply reply = Must(client->ReadReply());
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(reply.headers.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(client->WaitClosed());

  auto bad_version = Connect();
  Must(bad_version->Write("GET / HTTP/9.9\r\n\r\n"));
  EXPECT_EQ(Must(bad_version->ReadReply()).status, 400);

  // Not even TLS: the handshake fails and the connection is closed; the server goes on.
  EXPECT_TRUE(SendPlainAndWaitClose(server_->port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(SendPlainAndWaitClose(server_->port(), std::string(64 * 1024, '\x16')));
  EXPECT_EQ(Must(Connect()->Get("/still-here")).status, 200);
  EXPECT_GE(server_->stats().bad_requests, 2u);
}

TEST_F(HttpsServerTest, SlowRequestGets408AndIdleConnectionCloses) {
  StartServer({}, HttpsServerOptions{.header_timeout = 300ms, .idle_timeout = 300ms});
  auto slow = Connect();
  Must(slow->Write("GET / HTTP/1.1\r\nHost: x\r\n"));  // never finishes the header
  TestReply reply = Must(slow->ReadReply());
  EXPECT_EQ(reply.status, 408);
  EXPECT_TRUE(slow->WaitClosed());

  auto idle = Connect();
  EXPECT_EQ(Must(idle->Get("/")).status, 200);
  EXPECT_TRUE(idle->WaitClosed());  // closed silently after the idle timeout
}

TEST_F(HttpsServerTest, ClientAuthRequiredRefusesClientsWithoutCertificate) {
  StartServer(TlsPolicy{.client_auth = ClientAuth::kRequired});
  // TLS 1.3 reports the refusal after the client's Finished: no response comes.
  auto anonymous = TestTlsClient::Connect(server_->port(), {.trust_anchor = pki_.root});
  if (anonymous) {
    EXPECT_FALSE((*anonymous)->Get("/"));
  }
  SClientResult tls12 = RunSClient(server_->port(), "-tls1_2");
  EXPECT_NE(tls12.exit_code, 0) << tls12.output;

  pki::TestLeaf stranger_ca_leaf = [] {
    pki::TestPki other =
        pki::MakeTestPki({.root_name = "Other Root", .intermediate_name = "Other"});
    return pki::IssueLeaf(other, "intruder", pki::Profile::kClient, pki::KeyType::kEcP256,
                          kLeafValidity);
  }();
  auto stranger =
      TestTlsClient::Connect(server_->port(), {.client_key = stranger_ca_leaf.key,
                                               .client_certificate = stranger_ca_leaf.cert,
                                               .client_chain = {},
                                               .trust_anchor = pki_.root});
  if (stranger) {
    EXPECT_FALSE((*stranger)->Get("/"));
  }

  pki::TestLeaf client_leaf =
      pki::IssueLeaf(pki_, "node-1", pki::Profile::kClient, pki::KeyType::kEcP256, kLeafValidity);
  // The client sends its intermediate along, as a node's chain file would.
  TestClientOptions options{.client_key = client_leaf.key,
                            .client_certificate = client_leaf.cert,
                            .client_chain = {pki_.intermediate},
                            .trust_anchor = pki_.root};
  auto client = Connect(options);
  TestReply reply = Must(client->Get("/whoami"));
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "GET /whoami body=0 peer=node-1 TLSv1.3");
}

TEST_F(HttpsServerTest, StopLetsInFlightRequestFinishAndClosesIdleSessions) {
  std::promise<void> entered;
  std::atomic<bool> signalled{false};
  StartServer({}, HttpsServerOptions{.shutdown_grace = 3s},
              [&](const Request& r, const ConnectionInfo& i) {
                if (r.target == "/slow" && !signalled.exchange(true)) {
                  entered.set_value();
                  std::this_thread::sleep_for(500ms);
                }
                return Echo(r, i);
              });
  auto idle = Connect();
  EXPECT_EQ(Must(idle->Get("/")).status, 200);
  auto busy = Connect();
  Must(busy->Write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(entered.get_future().wait_for(5s), std::future_status::ready);

  auto started = std::chrono::steady_clock::now();
  std::thread stopper([&] { server_->Stop(); });
  TestReply reply = Must(busy->ReadReply());
  EXPECT_EQ(reply.status, 200);
  EXPECT_NE(reply.headers.find("Connection: close"), std::string::npos);
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_TRUE(idle->WaitClosed());
  EXPECT_FALSE(TestTlsClient::Connect(server_->port(), {.timeout_ms = 1000}));
}

TEST_F(HttpsServerTest, ServesConcurrentClientsWhileCertificatesSwap) {
  StartServer();
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int round = 0; round < 3; ++round) {
        auto client = TestTlsClient::Connect(server_->port(), {.trust_anchor = pki_.root});
        if (!client) {
          continue;
        }
        for (int i = 0; i < 5; ++i) {
          auto reply = (*client)->Get("/c" + std::to_string(c));
          ok += reply && reply->status == 200 ? 1 : 0;
        }
      }
    });
  }
  for (int i = 0; i < 5; ++i) {
    Must(store_->Reload(TlsPolicy{}, Credentials(leaf_)));
  }
  for (std::thread& t : clients) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 8 * 3 * 5);
}

TEST_F(HttpsServerTest, ThrowingHandlerGets500AndServerGoesOn) {
  StartServer({}, {}, [](const Request& r, const ConnectionInfo& i) -> Response {
    if (r.target == "/throw") {
      throw std::runtime_error("handler bug");
    }
    return Echo(r, i);
  });
  auto client = Connect();
  EXPECT_EQ(Must(client->Get("/throw")).status, 500);
  EXPECT_EQ(Must(Connect()->Get("/")).status, 200);
}

TEST_F(HttpsServerTest, RefusesAnAddressInUse) {
  StartServer();
  auto second = HttpsServer::Start(HttpsServerOptions{.port = server_->port()}, store_, Echo);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, core::ErrorCode::kIo);
}

// Requests an async handler parked, with their Respond closures, for the test to answer.
class Parked {
 public:
  AsyncHandler Handler() {
    return [this](Request request, const ConnectionInfo&, Respond respond) {
      std::lock_guard lock(mu_);
      pending_.push_back({std::move(request), std::move(respond)});
      cv_.notify_all();
    };
  }
  // Waits (at most `timeout`) for a parked request and takes it.
  std::optional<std::pair<Request, Respond>> Take(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return !pending_.empty(); })) {
      return std::nullopt;
    }
    auto front = std::move(pending_.front());
    pending_.pop_front();
    return front;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Request, Respond>> pending_;
};

Response Text(std::string body) {
  return Response{.status = 200, .content_type = "text/plain", .body = std::move(body)};
}

TEST_F(HttpsServerTest, AsyncHandlerRespondsFromAnotherThreadAfterADelay) {
  std::vector<std::thread> workers;
  std::mutex mu;
  StartAsyncServer([&](Request request, const ConnectionInfo& info, Respond respond) {
    std::string body = request.target + " " + info.tls_version;
    std::lock_guard lock(mu);
    workers.emplace_back([body, respond = std::move(respond)] {
      std::this_thread::sleep_for(200ms);
      respond(Text(body));
    });
  });
  auto client = Connect();
  auto started = std::chrono::steady_clock::now();
  TestReply first = Must(client->Get("/a"));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "/a TLSv1.3");
  // The same keep-alive connection goes on after an asynchronous answer.
  TestReply second = Must(client->Get("/b"));
  EXPECT_EQ(second.body, "/b TLSv1.3");
  EXPECT_EQ(server_->stats().requests, 2u);
  server_->Stop();
  for (std::thread& t : workers) {
    t.join();
  }
}

TEST_F(HttpsServerTest, AsyncHandlerReadsNoFurtherRequestUntilItResponds) {
  Parked parked;
  StartAsyncServer(parked.Handler());
  auto client = Connect();
  // Two pipelined requests: the second reaches the handler only after the first is answered.
  Must(client->Write("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto first = parked.Take();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->first.target, "/1");
  std::this_thread::sleep_for(200ms);
  std::thread late([respond = first->second] { respond(Text("one")); });
  TestReply reply1 = Must(client->ReadReply());
  late.join();
  EXPECT_EQ(reply1.body, "one");
  auto second = parked.Take();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->first.target, "/2");
  second->second(Text("two"));
  EXPECT_EQ(Must(client->ReadReply()).body, "two");
}

TEST_F(HttpsServerTest, ManyConcurrentAsyncRequests) {
  // A pool of two workers answers every request in arrival order, as a group commit would.
  Parked parked;
  StartAsyncServer(parked.Handler());
  std::atomic<bool> done{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 2; ++w) {
    workers.emplace_back([&] {
      while (!done) {
        if (auto taken = parked.Take(50ms)) {
          taken->second(Text("re " + taken->first.target));
        }
      }
    });
  }
  constexpr int kClients = 16;
  constexpr int kRequests = 10;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto client = TestTlsClient::Connect(server_->port(), {.trust_anchor = pki_.root});
      if (!client) {
        return;
      }
      for (int i = 0; i < kRequests; ++i) {
        std::string target = "/c" + std::to_string(c) + "/" + std::to_string(i);
        auto reply = (*client)->Get(target);
        ok += reply && reply->status == 200 && reply->body == "re " + target ? 1 : 0;
      }
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  done = true;
  for (std::thread& t : workers) {
    t.join();
  }
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(server_->stats().requests, static_cast<std::uint64_t>(kClients * kRequests));
}

TEST_F(HttpsServerTest, StopWaitsForAPendingAsyncResponseWithinGrace) {
  Parked parked;
  StartAsyncServer(parked.Handler(), HttpsServerOptions{.shutdown_grace = 3s});
  auto client = Connect();
  Must(client->Write("GET /pending HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto pending = parked.Take();
  ASSERT_TRUE(pending);
  auto started = std::chrono::steady_clock::now();
  std::thread stopper([&] { server_->Stop(); });
  std::this_thread::sleep_for(300ms);
  std::thread responder([respond = pending->second] { respond(Text("late but in time")); });
  TestReply reply = Must(client->ReadReply());
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "late but in time");
  EXPECT_NE(reply.headers.find("Connection: close"), std::string::npos);
  stopper.join();
  responder.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_TRUE(client->WaitClosed());
}

TEST_F(HttpsServerTest, StopCutsAPendingAsyncRequestAfterGraceAndLateRespondIsHarmless) {
  Parked parked;
  StartAsyncServer(parked.Handler(), HttpsServerOptions{.shutdown_grace = 300ms});
  auto client = Connect();
  Must(client->Write("GET /never HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto pending = parked.Take();
  ASSERT_TRUE(pending);
  auto started = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_TRUE(client->WaitClosed());
  // Respond after Stop, then again after the server is gone: both are ignored.
  Respond respond = pending->second;
  respond(Text("too late"));
  server_.reset();
  respond(Text("far too late"));
  pending.reset();
}

TEST_F(HttpsServerTest, RespondAfterTheServerIsDestroyedIsHarmless) {
  Parked parked;
  StartAsyncServer(parked.Handler(), HttpsServerOptions{.shutdown_grace = 200ms});
  auto client = Connect();
  Must(client->Write("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto pending = parked.Take();
  ASSERT_TRUE(pending);
  server_.reset();
  pending->second(Text("nobody listens"));  // first call, after the io_context is gone
  EXPECT_TRUE(client->WaitClosed());
}

TEST_F(HttpsServerTest, SecondRespondIsIgnoredAndDroppedRespondGets500) {
  std::atomic<int> calls{0};
  StartAsyncServer([&](Request request, const ConnectionInfo&, Respond respond) {
    ++calls;
    if (request.target == "/twice") {
      respond(Text("first"));
      respond(Text("second"));
    } else if (request.target == "/drop") {
      // The closure is destroyed here without a call.
    } else if (request.target == "/throw-after") {
      respond(Text("answered"));
      throw std::runtime_error("after responding");
    } else {
      respond(Text("ok"));
    }
  });
  auto client = Connect();
  EXPECT_EQ(Must(client->Get("/twice")).body, "first");
  EXPECT_EQ(Must(client->Get("/next")).body, "ok");  // no stray second response in between
  EXPECT_EQ(Must(client->Get("/throw-after")).body, "answered");
  EXPECT_EQ(Must(client->Get("/drop")).status, 500);
  EXPECT_EQ(Must(Connect()->Get("/next")).body, "ok");
  EXPECT_EQ(calls.load(), 5);
}

}  // namespace
}  // namespace clustertls::net
