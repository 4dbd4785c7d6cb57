#include "common/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace eddy {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using ::testing::HasSubstr;

TEST(HttpClientTest, ParsesFullUrl) {
  absl::StatusOr<ParsedUrl> url = ParseHttpUrl("http://jm.local:8081/jobs/abc?x=1&y=2");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "jm.local");
  EXPECT_EQ(url->port, 8081);
  EXPECT_EQ(url->target, "/jobs/abc?x=1&y=2");
}

TEST(HttpClientTest, ParsesUrlWithoutScheme) {
  absl::StatusOr<ParsedUrl> url = ParseHttpUrl("127.0.0.1:9000");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->target, "/");
}

TEST(HttpClientTest, DefaultsToPort80) {
  absl::StatusOr<ParsedUrl> url = ParseHttpUrl("http://example.org");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "example.org");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->target, "/");
}

TEST(HttpClientTest, ParsesSchemeCaseInsensitivelyAndQueryWithoutPath) {
  absl::StatusOr<ParsedUrl> url = ParseHttpUrl("HTTP://h:1?q=2#fragment");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "h");
  EXPECT_EQ(url->port, 1);
  EXPECT_EQ(url->target, "/?q=2");
}

TEST(HttpClientTest, ParsesBracketedIpv6) {
  absl::StatusOr<ParsedUrl> url = ParseHttpUrl("http://[::1]:8081/overview");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 8081);
  EXPECT_EQ(url->target, "/overview");
}

TEST(HttpClientTest, ParsesHttpsWithItsDefaultPort) {
  absl::StatusOr<ParsedUrl> url = ParseHttpUrl("https://h/x");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_TRUE(url->https);
  EXPECT_EQ(url->port, 443);
  url = ParseHttpUrl("HTTPS://h:8443");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_TRUE(url->https);
  EXPECT_EQ(url->port, 8443);
  url = ParseHttpUrl("h:8081");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_FALSE(url->https);
}

TEST(HttpClientTest, RejectsBadUrls) {
  struct Case {
    const char* url;
    const char* why;
  };
  for (const Case& c :
       {Case{"", "empty"}, Case{"http://", "empty host"}, Case{"http://:8081/x", "empty host"},
        Case{"h:", "bad port"}, Case{"h:0", "bad port"}, Case{"h:65536", "bad port"},
        Case{"h:80x", "bad port"}, Case{"h:-1", "bad port"},
        Case{"ftp://h/x", "unsupported scheme"}, Case{"http://[::1:80/", "missing ']'"},
        Case{"http://user@h/", "user info"}}) {
    absl::StatusOr<ParsedUrl> url = ParseHttpUrl(c.url);
    ASSERT_FALSE(url.ok()) << c.url;
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << c.url;
    EXPECT_THAT(url.status().message(), HasSubstr(c.why)) << c.url;
    if (*c.url != '\0') {
      EXPECT_THAT(url.status().message(), HasSubstr(c.url));
    }
  }
}

TEST(HttpClientTest, ReturnsUnavailableQuicklyForClosedPort) {
  net::io_context io;
  uint16_t port;
  {
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }  // closed: nothing listens on `port` any more
  const std::string server = "http://127.0.0.1:" + std::to_string(port);

  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> response =
      HttpRequest("GET", server + "/overview", "", "application/json", std::chrono::seconds(5));
  auto elapsed = std::chrono::steady_clock::now() - start;

  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr("cannot connect to " + server));
  EXPECT_THAT(response.status().message(), HasSubstr("Connection refused"));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(HttpClientTest, PassesOnUrlErrors) {
  absl::StatusOr<HttpResponse> response = HttpRequest("GET", "ftp://127.0.0.1:1/");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpClientTest, TimesOutWhenServerNeverAnswers) {
  net::io_context io;
  // Listening but never accepting: the kernel completes the handshake, nobody answers.
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();

  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> response =
      HttpRequest("GET", "http://127.0.0.1:" + std::to_string(port) + "/x", "", "application/json",
                  std::chrono::milliseconds(200));
  auto elapsed = std::chrono::steady_clock::now() - start;

  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr("/x"));
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

// Serves exactly one request on a thread with a plain blocking Beast server.
TEST(HttpClientTest, SendsRequestAndReadsResponse) {
  net::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  http::request<http::string_body> received;
  std::thread server([&] {
    tcp::socket socket(io);
    acceptor.accept(socket);
    boost::beast::flat_buffer buffer;
    http::read(socket, buffer, received);
    http::response<http::string_body> response(http::status::accepted, 11);
    response.set("X-Eddy-Test", "one");
    response.insert("X-Eddy-Test", "two");
    response.set(http::field::content_type, "application/json");
    response.body() = R"({"ok":true})";
    response.prepare_payload();
    http::write(socket, response);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
  });

  absl::StatusOr<HttpResponse> response =
      HttpRequest("PATCH", "127.0.0.1:" + std::to_string(port) + "/jobs/1?mode=cancel",
                  R"({"a":1})", "application/json", std::chrono::seconds(5));
  server.join();

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(response->body, R"({"ok":true})");
  EXPECT_EQ(response->headers["content-type"], "application/json");
  EXPECT_EQ(response->headers["x-eddy-test"], "one, two");

  EXPECT_EQ(received.method(), http::verb::patch);
  EXPECT_EQ(received.target(), "/jobs/1?mode=cancel");
  EXPECT_EQ(received.body(), R"({"a":1})");
  EXPECT_EQ(received[http::field::content_type], "application/json");
  EXPECT_EQ(received[http::field::host], "127.0.0.1:" + std::to_string(port));
}

}  // namespace
}  // namespace eddy
