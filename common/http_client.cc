#include "common/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace eddy {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Debian's Abseil has its own absl::string_view, distinct from std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }
// Beast 1.74 uses boost::string_view.
beast::string_view Bv(std::string_view s) { return beast::string_view(s.data(), s.size()); }

// Formats host and port as an authority, with brackets around IPv6 literals.
std::string Authority(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

// Runs `io` until it has no work left, then makes it runnable again for the next step.
void RunStep(net::io_context& io) {
  io.run();
  io.restart();
}

absl::Status StepError(const beast::error_code& ec, std::string_view what, const std::string& url,
                       std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout || ec == net::error::operation_aborted) {
    return absl::DeadlineExceededError(
        absl::StrCat("timed out after ", timeout.count(), "ms ", Av(what), " ", url));
  }
  return absl::UnavailableError(absl::StrCat("cannot ", Av(what), " ", url, ": ", ec.message()));
}

// Sends `request` on `stream` and reads the whole response, each step by `deadline`.
template <typename Stream>
absl::StatusOr<http::response<http::string_body>> Exchange(
    Stream& stream, http::request<http::string_body>& request,
    std::chrono::steady_clock::time_point deadline, net::io_context& io,
    const std::string& full_url, std::chrono::milliseconds timeout) {
  beast::error_code ec;
  beast::get_lowest_layer(stream).expires_at(deadline);
  http::async_write(stream, request, [&](const beast::error_code& e, size_t) { ec = e; });
  RunStep(io);
  if (ec) return StepError(ec, "send request to", full_url, timeout);

  beast::flat_buffer buffer;
  buffer.reserve(256 * 1024);  // reads fill its free capacity (else 512 bytes each)
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);  // callers ask for what they want; no silent truncation
  beast::get_lowest_layer(stream).expires_at(deadline);
  http::async_read(stream, buffer, parser, [&](const beast::error_code& e, size_t) { ec = e; });
  RunStep(io);
  if (ec) return StepError(ec, "read response from", full_url, timeout);

  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  return parser.release();
}

}  // namespace

absl::StatusOr<ParsedUrl> ParseHttpUrl(std::string_view url) {
  auto invalid = [url](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("invalid URL '", Av(url), "': ", Av(why)));
  };
  std::string_view rest = Sv(absl::StripAsciiWhitespace(Av(url)));
  if (rest.empty()) return invalid("empty");
  ParsedUrl parsed;
  if (absl::StartsWithIgnoreCase(Av(rest), "https://")) {
    rest.remove_prefix(8);
    parsed.https = true;
    parsed.port = 443;
  } else if (absl::StartsWithIgnoreCase(Av(rest), "http://")) {
    rest.remove_prefix(7);
  } else if (size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
    return invalid(absl::StrCat("unsupported scheme '", Av(rest.substr(0, scheme)),
                                "' (http and https are supported)"));
  }

  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  if (authority_end != std::string_view::npos) {
    std::string_view target = rest.substr(authority_end);
    target = target.substr(0, target.find('#'));  // fragments are never sent
    if (target.empty() || target.front() != '/') {
      parsed.target = absl::StrCat("/", Av(target));
    } else {
      parsed.target = std::string(target);
    }
  }
  if (authority.find('@') != std::string_view::npos) {
    return invalid("user info is not supported");
  }

  std::string_view host = authority;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid("missing ']' after IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("unexpected text after ']'");
      port = after.substr(1);
      has_port = true;
    }
  } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    if (authority.find(':', colon + 1) != std::string_view::npos) {
      return invalid("IPv6 addresses must be written in brackets");
    }
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    has_port = true;
  }
  if (host.empty()) return invalid("empty host");
  if (has_port) {
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > std::numeric_limits<uint16_t>::max()) {
      return invalid(absl::StrCat("bad port '", Av(port), "' (expected 1-65535)"));
    }
    parsed.port = static_cast<uint16_t>(value);
  }
  parsed.host = std::string(host);
  return parsed;
}

std::string UrlEncodePathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '~' || (c == '.' && segment != "." && segment != "..");
    if (plain) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

absl::StatusOr<HttpResponse> HttpRequest(std::string_view method, std::string_view url,
                                         std::string_view body, std::string_view content_type,
                                         std::chrono::milliseconds timeout,
                                         const HttpHeaders& headers, const std::string& ca_file) {
  absl::StatusOr<ParsedUrl> parsed = ParseHttpUrl(url);
  if (!parsed.ok()) return parsed.status();
  const std::string authority = Authority(parsed->host, parsed->port);
  const std::string server = absl::StrCat(parsed->https ? "https://" : "http://", authority);
  const std::string full_url = absl::StrCat(server, parsed->target);
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  net::io_context io;
  beast::error_code ec;

  // Resolving a name may block in getaddrinfo; the timer bounds it for the caller.
  tcp::resolver resolver(io);
  tcp::resolver::results_type endpoints;
  net::steady_timer resolve_timer(io, deadline);
  resolver.async_resolve(parsed->host, std::to_string(parsed->port),
                         [&](const beast::error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           resolve_timer.cancel();
                         });
  resolve_timer.async_wait([&](const beast::error_code& e) {
    if (!e) resolver.cancel();
  });
  RunStep(io);
  if (ec) return StepError(ec, "resolve host of", server, timeout);

  beast::tcp_stream stream(io);
  stream.expires_at(deadline);
  stream.async_connect(endpoints,
                       [&](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
  RunStep(io);
  if (ec) return StepError(ec, "connect to", server, timeout);

  http::request<http::string_body> request;
  http::verb verb = http::string_to_verb(Bv(method));
  if (verb == http::verb::unknown) {
    request.method_string(Bv(method));
  } else {
    request.method(verb);
  }
  request.target(parsed->target);
  request.version(11);
  request.set(http::field::host, authority);
  request.set(http::field::user_agent, "eddy");
  request.set(http::field::accept, "application/json, */*");
  request.keep_alive(false);
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!body.empty() || verb == http::verb::post || verb == http::verb::put ||
      verb == http::verb::patch) {
    request.set(http::field::content_type, Bv(content_type));
    request.body() = std::string(body);
  }
  request.prepare_payload();

  absl::StatusOr<http::response<http::string_body>> exchanged;
  if (parsed->https) {
    // The server's certificate must chain to `ca_file` (or the system's CAs) and name the
    // host of the URL.
    net::ssl::context context(net::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
    if (!ca_file.empty()) {
      context.load_verify_file(ca_file, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot use CA certificate file ", ca_file, ": ", ec.message()));
      }
    } else {
      context.set_default_verify_paths(ec);
    }
    context.set_verify_mode(net::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), context);
    tls.set_verify_callback(net::ssl::host_name_verification(parsed->host));
    if (SSL_set_tlsext_host_name(tls.native_handle(), parsed->host.c_str()) != 1) {
      return absl::InternalError(absl::StrCat("cannot set the TLS server name ", parsed->host));
    }
    beast::get_lowest_layer(tls).expires_at(deadline);
    tls.async_handshake(net::ssl::stream_base::client, [&](const beast::error_code& e) { ec = e; });
    RunStep(io);
    if (ec) {
      absl::Status failed = StepError(ec, "complete a TLS handshake with", server, timeout);
      if (ec.category() == net::error::get_ssl_category()) {
        return absl::UnavailableError(absl::StrCat(
            failed.message(), " (the server's certificate must be signed by ",
            ca_file.empty() ? std::string("a CA the system trusts") : ca_file,
            " and name the host ", parsed->host, ")"));
      }
      return failed;
    }
    exchanged = Exchange(tls, request, deadline, io, full_url, timeout);
  } else {
    exchanged = Exchange(stream, request, deadline, io, full_url, timeout);
  }
  if (!exchanged.ok()) return exchanged.status();

  http::response<http::string_body> message = std::move(*exchanged);
  HttpResponse response;
  response.status = static_cast<int>(message.result_int());
  response.body = std::move(message.body());
  for (const auto& field : message) {
    std::string name = absl::AsciiStrToLower(
        absl::string_view(field.name_string().data(), field.name_string().size()));
    std::string_view value(field.value().data(), field.value().size());
    auto [it, inserted] = response.headers.try_emplace(name, value);
    if (!inserted) absl::StrAppend(&it->second, ", ", Av(value));  // repeated header
  }
  return response;
}

}  // namespace eddy
