#include "jobmanager/rest_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/http_client.h"
#include "common/tls.h"
#include "tests/support/process.h"
#include <fstream>
#include <unistd.h>

namespace eddy {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;
using tcp = net::ip::tcp;
using ::testing::HasSubstr;

constexpr size_t kMaxBody = 1024;
constexpr std::chrono::seconds kTimeout(10);

class RestServerTest : public ::testing::Test {
 protected:
  RestServerTest() : server_(std::make_unique<RestServer>(io_, kMaxBody)) {}

  ~RestServerTest() override {
    server_.reset();  // the destructor stops the server and closes connections
    work_.reset();
    for (std::thread& thread : threads_) thread.join();
  }

  // Listens on a free loopback port and runs the io_context on two threads, so handlers of
  // different connections run concurrently.
  void Start() {
    absl::StatusOr<uint16_t> port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    ASSERT_NE(*port, 0);
    port_ = *port;
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  std::string Url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(port_) + target;
  }

  HttpResponse Send(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    absl::StatusOr<HttpResponse> response =
        HttpRequest(method, Url(target), body, "application/json", kTimeout);
    EXPECT_TRUE(response.ok()) << method << " " << target << ": " << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  // Opens a raw connection with a receive timeout, so a server that never answers fails the
  // test instead of hanging it.
  tcp::socket Connect() {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    timeval tv{};
    tv.tv_sec = kTimeout.count();
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return socket;
  }

  static json Body(const HttpResponse& response) {
    return json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  }

  net::io_context io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{io_.get_executor()};
  std::unique_ptr<RestServer> server_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  net::io_context client_io_;
};

TEST_F(RestServerTest, ReturnsHandlerJson) {
  server_->Route("GET", "/overview", [](const RestRequest&) {
    return RestResponse::Json({{"taskmanagers", 2}, {"slots-total", 8}});
  });
  Start();

  HttpResponse response = Send("GET", "/overview");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers["content-type"], "application/json");
  EXPECT_EQ(Body(response), json({{"taskmanagers", 2}, {"slots-total", 8}}));
}

TEST_F(RestServerTest, ToleratesTrailingSlash) {
  server_->Route("GET", "/overview", [](const RestRequest&) { return RestResponse::Json(1); });
  Start();

  EXPECT_EQ(Send("GET", "/overview/").status, 200);
  EXPECT_EQ(Send("GET", "/overview/?x=1").status, 200);
}

TEST_F(RestServerTest, CapturesDecodedPathParams) {
  server_->Route("GET", "/jobs/:jobid/vertices/:vertexid", [](const RestRequest& request) {
    return RestResponse::Json({{"path", request.path}, {"params", request.path_params}});
  });
  Start();

  HttpResponse response = Send("GET", "/jobs/ab%20cd/vertices/7");
  EXPECT_EQ(response.status, 200);
  json body = Body(response);
  EXPECT_EQ(body["path"], "/jobs/ab%20cd/vertices/7");
  EXPECT_EQ(body["params"], json({{"jobid", "ab cd"}, {"vertexid", "7"}}));
}

TEST_F(RestServerTest, PrefersRouteThatMatchesMethod) {
  server_->Route("GET", "/jobs/:jobid/exceptions", [](const RestRequest& request) {
    return RestResponse::Json({{"job", request.path_params.at("jobid")}});
  });
  server_->Route("GET", "/jobs/overview",
                 [](const RestRequest&) { return RestResponse::Json("overview"); });
  Start();

  EXPECT_EQ(Body(Send("GET", "/jobs/j1/exceptions")), json({{"job", "j1"}}));
  EXPECT_EQ(Body(Send("GET", "/jobs/overview")), json("overview"));
  EXPECT_EQ(Send("GET", "/jobs/j1/exceptions/more").status, 404);
}

TEST_F(RestServerTest, PrefersLiteralSegmentsOverCaptures) {
  server_->Route("GET", "/jobs/:jobid", [](const RestRequest& request) {
    return RestResponse::Json({{"job", request.path_params.at("jobid")}});
  });
  server_->Route("GET", "/jobs/overview",
                 [](const RestRequest&) { return RestResponse::Json("overview"); });
  Start();

  EXPECT_EQ(Body(Send("GET", "/jobs/overview")), json("overview"));
  EXPECT_EQ(Body(Send("GET", "/jobs/j1")), json({{"job", "j1"}}));
}

TEST_F(RestServerTest, InvalidHandlerStatusIs500) {
  server_->Route("GET", "/weird", [](const RestRequest&) { return RestResponse::Json(1, 42); });
  Start();

  HttpResponse response = Send("GET", "/weird");
  EXPECT_EQ(response.status, 500);
  EXPECT_TRUE(Body(response).contains("errors")) << response.body;
}

TEST_F(RestServerTest, DecodesQueryParams) {
  server_->Route("GET", "/metrics", [](const RestRequest& request) {
    return RestResponse::Json(request.query_params);
  });
  Start();

  HttpResponse response = Send("GET", "/metrics?get=a%2Cb+c&flag&empty=&x=%zz");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response), json({{"get", "a,b c"}, {"flag", ""}, {"empty", ""}, {"x", "%zz"}}));
}

TEST_F(RestServerTest, PassesMethodHeadersAndBody) {
  server_->Route("POST", "/jobs", [](const RestRequest& request) {
    return RestResponse::Json({{"method", request.method},
                               {"content-type", request.headers.at("content-type")},
                               {"body", request.body}},
                              202);
  });
  Start();

  HttpResponse response = Send("POST", "/jobs", R"({"name":"wordcount"})");
  EXPECT_EQ(response.status, 202);
  EXPECT_EQ(Body(response), json({{"method", "POST"},
                                  {"content-type", "application/json"},
                                  {"body", R"({"name":"wordcount"})"}}));
}

TEST_F(RestServerTest, UnknownPathIs404WithErrors) {
  server_->Route("GET", "/overview", [](const RestRequest&) { return RestResponse::Json(1); });
  Start();

  HttpResponse response = Send("GET", "/nope");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.headers["content-type"], "application/json");
  EXPECT_EQ(Body(response), json({{"errors", {"Not found: /nope"}}}));
}

TEST_F(RestServerTest, WrongMethodIs405WithAllowHeader) {
  server_->Route("PATCH", "/overview", [](const RestRequest&) { return RestResponse::Json(1); });
  server_->Route("GET", "/overview", [](const RestRequest&) { return RestResponse::Json(2); });
  server_->Route("DELETE", "/other", [](const RestRequest&) { return RestResponse::Json(3); });
  Start();

  HttpResponse response = Send("POST", "/overview", "{}");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.headers["allow"], "GET, PATCH");
  EXPECT_EQ(Body(response), json({{"errors", {"Method POST is not allowed for /overview"}}}));
  EXPECT_EQ(Body(Send("PATCH", "/overview")), json(1));
}

TEST_F(RestServerTest, ThrowingHandlerIs500WithMessage) {
  server_->Route("GET", "/boom", [](const RestRequest&) -> RestResponse {
    throw std::runtime_error("state backend exploded");
  });
  Start();

  HttpResponse response = Send("GET", "/boom");
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(Body(response), json({{"errors", {"Internal server error: state backend exploded"}}}));
  EXPECT_EQ(Send("GET", "/boom").status, 500);  // the server is still serving
}

TEST_F(RestServerTest, OversizedBodyIs413) {
  std::atomic<int> calls{0};
  server_->Route("POST", "/jars/upload", [&calls](const RestRequest& request) {
    ++calls;
    return RestResponse::Json({{"size", request.body.size()}});
  });
  Start();

  HttpResponse at_limit = Send("POST", "/jars/upload", std::string(kMaxBody, 'x'));
  EXPECT_EQ(at_limit.status, 200);
  EXPECT_EQ(Body(at_limit), json({{"size", kMaxBody}}));

  // Far more than socket buffers hold: the client is still sending when the server answers,
  // so the server must drain the rest rather than reset the connection under it.
  HttpResponse too_big = Send("POST", "/jars/upload", std::string(8 << 20, 'x'));
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(too_big.headers["content-type"], "application/json");
  ASSERT_TRUE(Body(too_big).contains("errors")) << too_big.body;
  EXPECT_THAT(Body(too_big)["errors"][0].get<std::string>(), HasSubstr("1024 bytes"));
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(RestServerTest, KeepsServingAfterGarbage) {
  server_->Route("GET", "/overview", [](const RestRequest&) { return RestResponse::Json(1); });
  Start();

  {  // garbage, then hang up without reading
    tcp::socket socket = Connect();
    net::write(socket, net::buffer(std::string("\x00\x01garbage\r\n\r\n", 14)));
  }
  {  // garbage, then read the answer: a JSON 400, then the server closes
    tcp::socket socket = Connect();
    net::write(socket, net::buffer(std::string("\x00\x01garbage\r\n\r\n", 14)));
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    EXPECT_EQ(response.result_int(), 400u);
    EXPECT_TRUE(Body(HttpResponse{400, response.body(), {}}).contains("errors"));
    beast::error_code ec;
    http::read(socket, buffer, response, ec);
    EXPECT_EQ(ec, http::error::end_of_stream);
  }

  EXPECT_EQ(Send("GET", "/overview").status, 200);
}

TEST_F(RestServerTest, ServesSeveralRequestsOnOneConnection) {
  std::atomic<int> calls{0};
  server_->Route("GET", "/overview",
                 [&calls](const RestRequest&) { return RestResponse::Json(++calls); });
  Start();

  tcp::socket socket = Connect();
  beast::flat_buffer buffer;
  for (int i = 1; i <= 3; ++i) {
    http::request<http::string_body> request(http::verb::get, "/overview", 11);
    request.set(http::field::host, "127.0.0.1");
    http::write(socket, request);
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    EXPECT_EQ(response.result_int(), 200u);
    EXPECT_TRUE(response.keep_alive());
    EXPECT_EQ(response.body(), std::to_string(i));
  }
}

TEST_F(RestServerTest, AnswersExpectContinue) {
  server_->Route("PUT", "/config", [](const RestRequest& request) {
    return RestResponse::Json({{"body", request.body}});
  });
  Start();

  tcp::socket socket = Connect();
  net::write(socket, net::buffer(std::string("PUT /config HTTP/1.1\r\nHost: x\r\n"
                                             "Content-Type: application/json\r\n"
                                             "Content-Length: 2\r\n"
                                             "Expect: 100-continue\r\n\r\n")));
  beast::flat_buffer buffer;
  http::response<http::string_body> interim;
  http::read(socket, buffer, interim);
  EXPECT_EQ(interim.result(), http::status::continue_);
  net::write(socket, net::buffer(std::string("{}")));
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(json::parse(response.body()), json({{"body", "{}"}}));
}

TEST_F(RestServerTest, StopClosesListenerAndOpenConnections) {
  server_->Route("GET", "/overview", [](const RestRequest&) { return RestResponse::Json(1); });
  Start();

  tcp::socket socket = Connect();
  http::request<http::string_body> request(http::verb::get, "/overview", 11);
  request.set(http::field::host, "127.0.0.1");
  http::write(socket, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  ASSERT_EQ(response.result_int(), 200u);

  server_->Stop();
  server_->Stop();  // safe to repeat

  beast::error_code ec;
  http::read(socket, buffer, response, ec);  // the idle keep-alive connection is closed
  EXPECT_TRUE(ec == http::error::end_of_stream || ec == net::error::connection_reset)
      << ec.message();
  absl::StatusOr<HttpResponse> after =
      HttpRequest("GET", Url("/overview"), "", "application/json", kTimeout);
  EXPECT_FALSE(after.ok());
}

TEST_F(RestServerTest, ListenReportsAddressInUse) {
  Start();
  RestServer other(io_);
  absl::StatusOr<uint16_t> port = other.Listen("127.0.0.1", port_);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(port.status().message(), HasSubstr("127.0.0.1:" + std::to_string(port_)));
  EXPECT_THAT(port.status().message(), HasSubstr("in use"));
}

TEST_F(RestServerTest, ListenReportsAddressNotOnThisHost) {
  // 192.0.2.0/24 is reserved for documentation (RFC 5737): never a local address.
  absl::StatusOr<uint16_t> port = server_->Listen("192.0.2.1", 0);
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(port.status().message(), HasSubstr("192.0.2.1:0"));
  EXPECT_THAT(port.status().message(), HasSubstr("assign requested address"));
}

TEST_F(RestServerTest, ServesConcurrentClients) {
  server_->Route("GET", "/echo/:n", [](const RestRequest& request) {
    return RestResponse::Json(std::stoi(request.path_params.at("n")));
  });
  Start();

  constexpr int kClients = 4;
  constexpr int kRequests = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kRequests; ++i) {
        int n = c * 1000 + i;
        absl::StatusOr<HttpResponse> response =
            HttpRequest("GET", Url("/echo/" + std::to_string(n)), "", "application/json", kTimeout);
        if (response.ok() && response->status == 200 && response->body == std::to_string(n)) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
}

TEST_F(RestServerTest, DispatchesWithoutNetwork) {
  server_->Route("GET", "/jobs/:jobid", [](const RestRequest& request) {
    return RestResponse::Json({{"jobid", request.path_params.at("jobid")}});
  });

  RestRequest request;
  request.method = "GET";
  request.path = "/jobs/42/";
  RestResponse response = server_->Dispatch(request);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(json::parse(response.body), json({{"jobid", "42"}}));

  request.method = "DELETE";
  EXPECT_EQ(server_->Dispatch(request).status, 405);
}

TEST_F(RestServerTest, ResponseHelpersBuildJsonAndErrors) {
  RestResponse ok = RestResponse::Json({{"a", 1}}, 201);
  EXPECT_EQ(ok.status, 201);
  EXPECT_EQ(ok.body, R"({"a":1})");
  EXPECT_EQ(ok.content_type, "application/json");

  RestResponse error = RestResponse::Error(409, "job is already running");
  EXPECT_EQ(error.status, 409);
  EXPECT_EQ(json::parse(error.body), json({{"errors", {"job is already running"}}}));
}


// ---- Access control (RestAccessPolicy) over real connections ----

class RestAccessTest : public RestServerTest {
 protected:
  static constexpr char kViewer[] = "viewer-token-0123456789";
  static constexpr char kSubmitter[] = "submitter-token-0123456789";
  static constexpr char kAdmin[] = "admin-token-0123456789abc";

  void StartWithPolicy(std::vector<std::string> origins = {}) {
    tokens_file_ = ::testing::TempDir() + "/eddy-rest-tokens-" + std::to_string(::getpid());
    {
      std::ofstream out(tokens_file_);
      out << "# role per token\n"
          << kViewer << " viewer\n"
          << kSubmitter << "   submitter   alice  # with a name\n\n"
          << kAdmin << " admin\n";
    }
    RestAccessPolicy::Options options;
    options.tokens_file = tokens_file_;
    options.open_paths = {"/healthz"};
    options.allowed_origins = std::move(origins);
    auto policy = RestAccessPolicy::Load(options);
    ASSERT_TRUE(policy.ok()) << policy.status();
    server_->SetAccessPolicy(std::move(*policy));
    server_->Route("GET", "/jobs", [](const RestRequest& r) {
      return RestResponse::Json({{"caller", r.caller.principal}});
    });
    server_->Route("GET", "/healthz", [](const RestRequest&) { return RestResponse::Json({}); });
    server_->Route("POST", "/jars/upload", [](const RestRequest& r) {
      return RestResponse::Json({{"caller", r.caller.principal}});
    });
    server_->Route("PATCH", "/jobs/:id", [](const RestRequest&) { return RestResponse::Json({}); },
                   RestRole::kAdmin);
    Start();
  }
  ~RestAccessTest() override { std::remove(tokens_file_.c_str()); }

  HttpResponse As(const std::string& token, const std::string& method, const std::string& target,
                  const std::string& body = "{}", const std::string& type = "application/json",
                  HttpHeaders headers = {}) {
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    auto response = HttpRequest(method, Url(target), body, type, kTimeout, headers);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  std::string tokens_file_;
};

TEST_F(RestAccessTest, NoTokenIs401AndRolesLimitWhatATokenMayDo) {
  StartWithPolicy();
  HttpResponse anonymous = As("", "GET", "/jobs");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.headers["www-authenticate"], "Bearer realm=\"eddy\"");
  EXPECT_THAT(anonymous.body, HasSubstr("needs a token"));
  EXPECT_EQ(As("not-a-token-of-this-cluster", "GET", "/jobs").status, 401);
  HttpResponse basic = As("", "GET", "/jobs", "", "application/json",
                          {{"Authorization", "Basic dXNlcjpwYXNz"}});
  EXPECT_EQ(basic.status, 401);
  EXPECT_EQ(As("", "GET", "/healthz").status, 200) << "open paths need no token";

  // viewer: reads only
  EXPECT_EQ(As(kViewer, "GET", "/jobs").status, 200);
  HttpResponse viewer_upload = As(kViewer, "POST", "/jars/upload");
  EXPECT_EQ(viewer_upload.status, 403);
  EXPECT_THAT(viewer_upload.body, HasSubstr("needs the role submitter"));
  EXPECT_EQ(As(kViewer, "PATCH", "/jobs/x").status, 403);
  // submitter: uploads under its name, but not an admin route
  HttpResponse upload = As(kSubmitter, "POST", "/jars/upload");
  EXPECT_EQ(upload.status, 200);
  EXPECT_EQ(Body(upload)["caller"], "alice");
  EXPECT_EQ(As(kSubmitter, "PATCH", "/jobs/x").status, 403);
  // admin: everything; unnamed tokens are known by their hash
  EXPECT_EQ(As(kAdmin, "PATCH", "/jobs/x").status, 200);
  EXPECT_THAT(Body(As(kAdmin, "GET", "/jobs"))["caller"].get<std::string>(), HasSubstr("token-"));
}

TEST_F(RestAccessTest, BrowserSimpleRequestsAndForeignOriginsCannotChangeState) {
  StartWithPolicy({"https://console.example"});
  // Content types a page may send cross-site without a preflight.
  for (const std::string type : {"text/plain", "text/plain; charset=utf-8",
                                 "application/x-www-form-urlencoded"}) {
    HttpResponse response = As(kAdmin, "POST", "/jars/upload", "x=1", type);
    EXPECT_EQ(response.status, 415) << type;
    EXPECT_THAT(response.body, HasSubstr("refused"));
  }
  // A state change from a page of another origin, even with a token.
  HttpResponse foreign = As(kAdmin, "POST", "/jars/upload", "{}", "application/json",
                            {{"Origin", "https://evil.example"}});
  EXPECT_EQ(foreign.status, 403);
  EXPECT_EQ(foreign.headers.count("access-control-allow-origin"), 0u);
  // The listed origin gets CORS headers; others get none.
  HttpResponse listed = As(kViewer, "GET", "/jobs", "", "application/json",
                           {{"Origin", "https://console.example"}});
  EXPECT_EQ(listed.headers["access-control-allow-origin"], "https://console.example");
  HttpResponse other = As(kViewer, "GET", "/jobs", "", "application/json",
                          {{"Origin", "https://evil.example"}});
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.headers.count("access-control-allow-origin"), 0u);
  // Preflights: allowed for the listed origin only.
  EXPECT_EQ(As("", "OPTIONS", "/jars/upload", "", "application/json",
               {{"Origin", "https://console.example"}}).status, 204);
  EXPECT_EQ(As("", "OPTIONS", "/jars/upload", "", "application/json",
               {{"Origin", "https://evil.example"}}).status, 403);
}

TEST_F(RestServerTest, WithoutAPolicyThereIsNoCorsHeader) {
  server_->Route("GET", "/jobs", [](const RestRequest&) { return RestResponse::Json({}); });
  Start();
  HttpResponse response = Send("GET", "/jobs");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers.count("access-control-allow-origin"), 0u);
}

TEST(RestTokensTest, TokenFilesAreCheckedLineByLine) {
  auto ok = RestAccessPolicy::ParseTokens("# c\n0123456789abcdef viewer\n", "t");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 1u);
  auto bad_role = RestAccessPolicy::ParseTokens("0123456789abcdef viewer\n0123456789abcdeg root\n", "tokens");
  EXPECT_THAT(std::string(bad_role.status().message()), HasSubstr("tokens:2: unknown role 'root'"));
  auto short_token = RestAccessPolicy::ParseTokens("abc admin\n", "tokens");
  EXPECT_THAT(std::string(short_token.status().message()), HasSubstr("tokens:1"));
  EXPECT_THAT(std::string(short_token.status().message()), HasSubstr("at least 16"));
  auto twice = RestAccessPolicy::ParseTokens("0123456789abcdef viewer\n0123456789abcdef admin\n", "t");
  EXPECT_THAT(std::string(twice.status().message()), HasSubstr("twice"));
  EXPECT_FALSE(RestAccessPolicy::ParseTokens("# nothing\n", "t").ok());
  EXPECT_FALSE(RestAccessPolicy::ParseTokens("0123456789abcdef viewer a b\n", "t").ok());
  auto missing = RestAccessPolicy::Load({.tokens_file = "/nonexistent/tokens"});
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/tokens"));
}


std::shared_ptr<net::ssl::context> RestTls(const std::string& certs) {
  Config config;
  EXPECT_TRUE(config.Set(opt::kSslRestEnabled, "true").ok());
  EXPECT_TRUE(config.Set(opt::kSslRestCert, certs + "/rest.pem").ok());
  EXPECT_TRUE(config.Set(opt::kSslRestKey, certs + "/rest-key.pem").ok());
  auto tls = RestTlsFromConfig(config);
  EXPECT_TRUE(tls.ok()) << tls.status();
  return tls.ok() ? *tls : nullptr;
}

class RestHttpsTest : public RestServerTest {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("eddy-rest-https-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<HttpResponse> Get(const std::string& url, const std::string& ca) {
    return HttpRequest("GET", url, "", "application/json", kTimeout, {}, ca);
  }

  std::filesystem::path dir_;
};

TEST_F(RestHttpsTest, ServesHttpsThatClientsVerifyByCaAndHostName) {
  const std::string certs = testing::MakeClusterCerts(dir_ / "certs", "DNS:localhost,IP:127.0.0.1");
  const std::string other = testing::MakeClusterCerts(dir_ / "other", "DNS:localhost,IP:127.0.0.1");
  server_->SetTls(RestTls(certs));
  server_->Route("GET", "/overview", [](const RestRequest&) { return RestResponse::Json(7); });
  Start();
  const std::string port = std::to_string(port_);

  // Verified by the cluster CA, by IP address and by name.
  for (const char* host : {"127.0.0.1", "localhost"}) {
    auto response = Get(std::string("https://") + host + ":" + port + "/overview", certs + "/ca.pem");
    ASSERT_TRUE(response.ok()) << host << ": " << response.status();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(Body(*response), json(7));
  }
  // Not trusted: without the CA (the system's CAs do not know it), or with another CA.
  for (const std::string& ca : {std::string(), other + "/ca.pem"}) {
    auto refused = Get("https://127.0.0.1:" + port + "/overview", ca);
    ASSERT_FALSE(refused.ok()) << "trusted with CA '" << ca << "'";
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("certificate verify failed"));
  }
  // Plain HTTP on the HTTPS port gets no HTTP answer.
  auto plain = Get("http://127.0.0.1:" + port + "/overview", "");
  EXPECT_FALSE(plain.ok()) << "plain HTTP was answered " << plain->status;
  // The server still serves after those.
  auto again = Get("https://127.0.0.1:" + port + "/overview", certs + "/ca.pem");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status, 200);
}

TEST_F(RestHttpsTest, ACertificateForAnotherHostIsRefused) {
  const std::string certs = testing::MakeClusterCerts(dir_ / "certs", "DNS:jobmanager.invalid");
  server_->SetTls(RestTls(certs));
  server_->Route("GET", "/overview", [](const RestRequest&) { return RestResponse::Json(7); });
  Start();
  auto refused = Get("https://127.0.0.1:" + std::to_string(port_) + "/overview",
                     certs + "/ca.pem");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("name the host 127.0.0.1"));
}

TEST_F(RestHttpsTest, MissingOrMismatchedFilesAreErrorsNamingThem) {
  const std::string certs = testing::MakeClusterCerts(dir_ / "certs", "DNS:localhost");
  Config config;
  ASSERT_TRUE(config.Set(opt::kSslRestEnabled, "true").ok());
  auto no_cert = RestTlsFromConfig(config);
  ASSERT_FALSE(no_cert.ok());
  EXPECT_THAT(std::string(no_cert.status().message()), HasSubstr("security.ssl.rest.cert"));
  ASSERT_TRUE(config.Set(opt::kSslRestCert, certs + "/rest.pem").ok());
  ASSERT_TRUE(config.Set(opt::kSslRestKey, certs + "/member-key.pem").ok());
  auto wrong_key = RestTlsFromConfig(config);
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_THAT(std::string(wrong_key.status().message()), HasSubstr(certs + "/member-key.pem"));
  ASSERT_TRUE(config.Set(opt::kSslRestEnabled, "false").ok());
  auto off = RestTlsFromConfig(config);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off, nullptr);
}

}  // namespace
}  // namespace eddy
