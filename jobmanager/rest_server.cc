#include "jobmanager/rest_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/check.h"
#include "common/ids.h"
#include "common/logging.h"

namespace eddy {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// After an error response, how long the peer may keep sending before the socket is closed.
constexpr std::chrono::seconds kLingerTimeout(2);
// Backoff after a failed accept (e.g. out of file descriptors) so the loop does not spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay(100);

// Set while a thread runs a handler of the server it points to; Stop() from inside a
// handler must not wait for handlers to finish.
thread_local const void* t_dispatching_server = nullptr;

// Debian's Abseil has its own absl::string_view, distinct from std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (malformed ones are kept literally) and, in query strings, '+'.
std::string PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Splits a path into its decoded, non-empty segments: "/a//b/" -> {"a", "b"}.
std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  for (absl::string_view segment : absl::StrSplit(Av(path), '/', absl::SkipEmpty())) {
    segments.push_back(PercentDecode(Sv(segment), /*plus_is_space=*/false));
  }
  return segments;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> params;
  for (absl::string_view pair : absl::StrSplit(Av(query), '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    params[PercentDecode(Sv(kv.first), true)] = PercentDecode(Sv(kv.second), true);
  }
  return params;
}

struct RouteEntry {
  std::string method;
  std::vector<std::string> segments;  // ":name" captures a parameter
  int literal_segments = 0;           // more is more specific
  RestServer::Handler handler;
  RestRole role = RestRole::kViewer;  // what the caller needs
};

bool IsCapture(const std::string& segment) { return segment.size() > 1 && segment[0] == ':'; }

bool MatchRoute(const RouteEntry& route, const std::vector<std::string>& path,
                std::map<std::string, std::string>* params) {
  if (route.segments.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& segment = route.segments[i];
    if (IsCapture(segment)) {
      if (params != nullptr) (*params)[segment.substr(1)] = path[i];
    } else if (segment != path[i]) {
      return false;
    }
  }
  return true;
}

std::string ToString(beast::string_view s) { return std::string(s.data(), s.size()); }

std::string Http503(size_t max_connections) {
  const std::string body = nlohmann::json{
      {"errors", {absl::StrCat("the JobManager serves at most ", max_connections,
                               " REST connections at once; try again")}}}.dump();
  return absl::StrCat("HTTP/1.1 503 Service Unavailable\r\nServer: eddy\r\n",
                      "Content-Type: application/json\r\nRetry-After: 1\r\n",
                      "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace

void RestRequest::SetTarget(std::string_view target) {
  size_t query_start = target.find('?');
  path = std::string(target.substr(0, query_start));
  query_params.clear();
  if (query_start != std::string_view::npos) {
    query_params = ParseQuery(target.substr(query_start + 1));
  }
}

void RestRequest::AddHeader(std::string_view name, std::string_view value) {
  auto [it, inserted] = headers.try_emplace(absl::AsciiStrToLower(Av(name)), value);
  if (!inserted) absl::StrAppend(&it->second, ", ", Av(value));
}

RestResponse RestResponse::Json(const nlohmann::json& value, int status) {
  RestResponse response;
  response.status = status;
  // Replacing invalid UTF-8 (e.g. from user data in messages) beats failing the request.
  response.body = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

RestResponse RestResponse::Error(int status, const std::string& message) {
  return Json(nlohmann::json{{"errors", nlohmann::json::array({message})}}, status);
}

struct RestServer::Impl : std::enable_shared_from_this<RestServer::Impl> {
  class SessionBase;
  template <typename Stream>
  class Session;

  Impl(net::io_context& io, size_t max_body_bytes) : io(io), max_body_bytes(max_body_bytes) {}

  // Checks and routes `request`, fills its path_params and caller; on 405 sets `allow` to
  // the path's methods. Adds the CORS headers the policy gives.
  RestResponse Dispatch(RestRequest& request, std::string* allow) const;
  RestResponse Route(RestRequest& request, std::string* allow) const;
  // Brackets a dispatch from a connection; false once the server is stopped.
  bool BeginNetworkDispatch();
  void EndNetworkDispatch();

  // REQUIRES: mu held, acceptor set.
  void DoAcceptLocked();
  void OnAccept(const beast::error_code& ec, tcp::socket socket);
  void RetryAcceptLater();
  void Stop();

  net::io_context& io;
  const size_t max_body_bytes;
  std::vector<RouteEntry> routes;  // written only before Listen(), read-only afterwards
  RestAccessPolicy policy;         // set only before Listen(), read-only afterwards
  std::string spool_dir = std::filesystem::temp_directory_path().string();  // likewise
  size_t max_connections = 512;                                             // likewise
  // A connection that sends nothing for this long is closed (rest.idleness-timeout). While a
  // body arrives the deadline moves with every piece: a slow upload that keeps moving never
  // times out. Set only before Listen(), like the rest.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::shared_ptr<net::ssl::context> tls;                                   // likewise

  // std::mutex rather than absl::Mutex: Debian's Abseil is not built with TSan annotations,
  // so the tsan preset would report false races on everything absl::Mutex guards.
  std::mutex mu;
  std::condition_variable dispatch_done;  // signalled when `dispatching` drops to zero
  // Guarded by mu:
  bool listening = false;
  bool stopped = false;
  int dispatching = 0;  // handlers running for connections
  std::optional<tcp::acceptor> acceptor;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
};

// What the server needs of a connection, whether plain or TLS.
class RestServer::Impl::SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Start() = 0;
  /// Closes the connection from any thread; a running handler finishes first.
  virtual void Close() = 0;
};

// One HTTP/1.1 connection over `Stream`: beast::tcp_stream, or an ssl_stream over one
// (security.ssl.rest.enabled), whose TLS handshake comes first, within the idle timeout.
// All its work runs on its own strand; only Close() may be called from elsewhere.
template <typename Stream>
class RestServer::Impl::Session final : public SessionBase,
                                        public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr size_t kReadBufferBytes = 256 * 1024;
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <typename... TlsContext>
  Session(std::shared_ptr<Impl> server, tcp::socket socket, TlsContext&... tls)
      : server_(std::move(server)), stream_(std::move(socket), tls...) {
    // Reads take what fits the buffer's free capacity: without room they would be 512
    // bytes each (a 14 MB upload took 28,000 reads).
    buffer_.reserve(kReadBufferBytes);
  }

  ~Session() override {
    RemoveSpoolFile();
    std::lock_guard<std::mutex> lock(server_->mu);
    server_->sessions.erase(this);
  }

  void Start() override {
    if constexpr (kTls) {
      net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
        self->Lowest().expires_after(self->server_->idle_timeout);
        self->stream_.async_handshake(net::ssl::stream_base::server,
                                      [self](const beast::error_code& ec) {
                                        if (ec) {
                                          EDDY_LOG(DEBUG) << "REST TLS handshake with "
                                                          << self->Peer() << " failed: "
                                                          << ec.message();
                                          return self->CloseNow();
                                        }
                                        self->DoReadHeader();
                                      });
      });
    } else {
      net::dispatch(stream_.get_executor(),
                    beast::bind_front_handler(&Session::DoReadHeader, this->shared_from_this()));
    }
  }

  void Close() override {
    net::post(stream_.get_executor(),
              beast::bind_front_handler(&Session::CloseNow, this->shared_from_this()));
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  std::string Peer() {
    beast::error_code ec;
    auto endpoint = Lowest().socket().remote_endpoint(ec);
    return ec ? std::string("a closed connection")
              : absl::StrCat(endpoint.address().to_string(), ":", endpoint.port());
  }

  void DoReadHeader() {
    if (closed_) return;
    parser_.emplace();
    parser_->body_limit(server_->max_body_bytes);
    Lowest().expires_after(server_->idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnReadHeader, this->shared_from_this()));
  }

  void OnReadHeader(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return HandleRequest();
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      continue_.emplace(http::status::continue_, parser_->get().version());
      Lowest().expires_after(server_->idle_timeout);
      http::async_write(stream_, *continue_,
                        [self = this->shared_from_this()](beast::error_code e, size_t) {
                          if (e) return self->CloseNow();
                          self->DoReadBody();
                        });
      return;
    }
    DoReadBody();
  }

  void DoReadBody() {
    if (closed_) return;
    const auto length = parser_->content_length();
    if (!length || *length > kInMemoryBodyBytes) {
      // Large or of unknown length (chunked): to a spool file as it arrives.
      spool_path_ = absl::StrCat(server_->spool_dir, "/rest-body-", RandomHexId(12));
      file_parser_.emplace(std::move(*parser_));
      parser_.reset();
      file_parser_->body_limit(server_->max_body_bytes);
      beast::error_code ec;
      file_parser_->get().body().open(spool_path_.c_str(), beast::file_mode::write_new, ec);
      if (ec) {
        EDDY_LOG(ERROR) << "REST: cannot spool a request body to " << spool_path_ << ": "
                        << ec.message();
        spool_path_.clear();
        return RespondError(500, absl::StrCat("cannot store the request body: ", ec.message()));
      }
    }
    ReadBodySome();
  }

  void ReadBodySome() {
    Lowest().expires_after(server_->idle_timeout);  // progress, not total time
    auto next = beast::bind_front_handler(&Session::OnReadBodySome, this->shared_from_this());
    if (file_parser_) {
      http::async_read_some(stream_, buffer_, *file_parser_, std::move(next));
    } else {
      http::async_read_some(stream_, buffer_, *parser_, std::move(next));
    }
  }

  void OnReadBodySome(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    if (!(file_parser_ ? file_parser_->is_done() : parser_->is_done())) return ReadBodySome();
    HandleRequest();
  }

  void RemoveSpoolFile() {
    if (spool_path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove(spool_path_, ignored);
    spool_path_.clear();
  }

  void OnReadError(const beast::error_code& ec) {
    static const auto& http_category = http::make_error_code(http::error::body_limit).category();
    if (ec == http::error::body_limit) {
      return RespondError(413, absl::StrCat("Request body exceeds the limit of ",
                                            server_->max_body_bytes, " bytes"));
    }
    if (ec == http::error::header_limit) {
      return RespondError(431, "Request header fields too large");
    }
    if (ec.category() == http_category && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return RespondError(400, absl::StrCat("Malformed HTTP request: ", ec.message()));
    }
    // The peer closed, went idle (the stream is already closed) or Stop() closed us.
    if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
        ec != net::error::operation_aborted) {
      EDDY_LOG(DEBUG) << "REST connection read failed: " << ec.message();
    }
    CloseNow();
  }

  template <typename Body>
  static RestRequest ToRestRequest(const http::request<Body>& message) {
    RestRequest request;
    request.method = ToString(message.method_string());
    request.SetTarget(std::string_view(message.target().data(), message.target().size()));
    for (const auto& field : message) {
      request.AddHeader(std::string_view(field.name_string().data(), field.name_string().size()),
                        std::string_view(field.value().data(), field.value().size()));
    }
    return request;
  }

  void HandleRequest() {
    RestRequest request;
    unsigned version = 11;
    bool keep_alive = false, head = false;
    if (file_parser_) {
      http::request<http::file_body> message = file_parser_->release();
      file_parser_.reset();
      message.body().close();
      request = ToRestRequest(message);
      request.body_file = spool_path_;
      version = message.version();
      keep_alive = message.keep_alive();
      head = message.method() == http::verb::head;
    } else {
      http::request<http::string_body> message = parser_->release();
      parser_.reset();
      request = ToRestRequest(message);
      request.body = std::move(message.body());
      version = message.version();
      keep_alive = message.keep_alive();
      head = message.method() == http::verb::head;
    }

    if (!server_->BeginNetworkDispatch()) return CloseNow();
    std::string allow;
    RestResponse response = server_->Dispatch(request, &allow);
    server_->EndNetworkDispatch();
    RemoveSpoolFile();

    Respond(std::move(response), allow, version, keep_alive, head, /*linger=*/false);
  }

  void RespondError(int status, const std::string& message) {
    Respond(RestResponse::Error(status, message), "", 11, /*keep_alive=*/false,
            /*head=*/false, /*linger=*/true);
  }

  // `linger` drains unread input before closing: after a read error some may be left, and
  // closing a socket with unread input resets the connection, which can destroy the response.
  void Respond(RestResponse response, const std::string& allow, unsigned version, bool keep_alive,
               bool head, bool linger) {
    if (closed_) return;
    if (response.status < 200 || response.status > 599) {
      EDDY_LOG(ERROR) << "REST handler returned invalid status " << response.status;
      response = RestResponse::Error(
          500, absl::StrCat("Internal server error: invalid status ", response.status));
    }
    response_.emplace();
    response_->result(static_cast<unsigned>(response.status));
    response_->version(version);
    response_->set(http::field::server, "eddy");
    response_->set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) response_->set(name, value);
    if (!allow.empty()) response_->set(http::field::allow, allow);
    response_->keep_alive(keep_alive);
    response_->content_length(response.body.size());
    if (!head) response_->body() = std::move(response.body);

    Lowest().expires_after(server_->idle_timeout);
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this(), keep_alive, linger](
                          beast::error_code ec, size_t) { self->OnWrite(ec, keep_alive, linger); });
  }

  void OnWrite(const beast::error_code& ec, bool keep_alive, bool linger) {
    response_.reset();
    if (ec) return CloseNow();
    if (keep_alive) return DoReadHeader();
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!linger) return CloseNow();
    linger_buffer_.resize(4096);
    Lowest().expires_after(kLingerTimeout);
    DoLinger();
  }

  // Discards input until the peer closes or the linger timeout closes the stream.
  void DoLinger() {
    stream_.async_read_some(net::buffer(linger_buffer_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->CloseNow();
                              self->DoLinger();
                            });
  }

  void CloseNow() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  const std::shared_ptr<Impl> server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request_parser<http::file_body>> file_parser_;  // a spooled body
  std::string spool_path_;                                             // its file
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> response_;
  std::vector<char> linger_buffer_;
  bool closed_ = false;
};

RestResponse RestServer::Impl::Dispatch(RestRequest& request, std::string* allow) const {
  RestResponse response = Route(request, allow);
  policy.AddCorsHeaders(request, &response);
  return response;
}

RestResponse RestServer::Impl::Route(RestRequest& request, std::string* allow) const {
  if (request.method == "OPTIONS") return policy.Preflight(request);
  if (auto refused = policy.CheckRequest(request)) return std::move(*refused);
  std::vector<std::string> path = SplitPath(request.path);
  std::set<std::string> path_methods;
  const RouteEntry* match = nullptr;
  for (const RouteEntry& route : routes) {
    if (!MatchRoute(route, path, nullptr)) continue;
    if (route.method != request.method) {
      path_methods.insert(route.method);
    } else if (match == nullptr || route.literal_segments > match->literal_segments) {
      match = &route;  // "/jobs/overview" wins over "/jobs/:jobid"
    }
  }
  if (match == nullptr) {
    if (path_methods.empty()) return RestResponse::Error(404, "Not found: " + request.path);
    if (allow != nullptr) *allow = absl::StrJoin(path_methods, ", ");
    return RestResponse::Error(
        405, absl::StrCat("Method ", request.method, " is not allowed for ", request.path));
  }
  std::optional<RestResponse> refusal;
  auto caller = policy.Authenticate(request, match->role, &refusal);
  if (!caller.ok()) return std::move(*refusal);
  request.caller = std::move(*caller);
  request.path_params.clear();
  MatchRoute(*match, path, &request.path_params);
  try {
    return match->handler(request);
  } catch (const std::exception& e) {
    EDDY_LOG(ERROR) << request.method << " " << request.path << " failed: " << e.what();
    return RestResponse::Error(500, absl::StrCat("Internal server error: ", e.what()));
  } catch (...) {
    EDDY_LOG(ERROR) << request.method << " " << request.path
                    << " failed with a non-standard exception";
    return RestResponse::Error(500, "Internal server error: unknown exception");
  }
}

bool RestServer::Impl::BeginNetworkDispatch() {
  std::lock_guard<std::mutex> lock(mu);
  if (stopped) return false;
  ++dispatching;
  t_dispatching_server = this;
  return true;
}

void RestServer::Impl::EndNetworkDispatch() {
  std::lock_guard<std::mutex> lock(mu);
  t_dispatching_server = nullptr;
  if (--dispatching == 0) dispatch_done.notify_all();
}

void RestServer::Impl::DoAcceptLocked() {
  acceptor->async_accept(net::make_strand(io),
                         beast::bind_front_handler(&Impl::OnAccept, shared_from_this()));
}

void RestServer::Impl::OnAccept(const beast::error_code& ec, tcp::socket socket) {
  std::shared_ptr<SessionBase> session;  // dropped outside `mu`: ~Session takes it
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stopped || !acceptor.has_value()) return;
    if (ec) {
      if (ec == net::error::operation_aborted) return;
      EDDY_LOG(ERROR) << "REST server accept failed: " << ec.message();
      RetryAcceptLater();
      return;
    }
    if (sessions.size() >= max_connections) {
      // Over the limit: a clear answer instead of a connection that hangs.
      DoAcceptLocked();
      EDDY_LOG(WARN) << "REST: refused a connection: " << max_connections
                     << " connections are open (rest.server.max-connections)";
      auto refused = std::make_shared<tcp::socket>(std::move(socket));
      if (tls) {  // no plain answer on an HTTPS port; the client sees the connection close
        beast::error_code ignored;
        refused->shutdown(tcp::socket::shutdown_both, ignored);
        refused->close(ignored);
        return;
      }
      auto answer = std::make_shared<std::string>(Http503(max_connections));
      net::async_write(*refused, net::buffer(*answer),
                       [refused, answer](const beast::error_code&, size_t) {
                         beast::error_code ignored;
                         refused->shutdown(tcp::socket::shutdown_both, ignored);
                         refused->close(ignored);
                       });
      return;
    }
    if (tls) {
      session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          shared_from_this(), std::move(socket), *tls);
    } else {
      session = std::make_shared<Session<beast::tcp_stream>>(shared_from_this(), std::move(socket));
    }
    sessions.emplace(session.get(), session);
    DoAcceptLocked();
  }
  session->Start();
}

void RestServer::Impl::RetryAcceptLater() {
  auto timer = std::make_shared<net::steady_timer>(io, kAcceptRetryDelay);
  timer->async_wait([self = shared_from_this(), timer](const beast::error_code&) {
    std::lock_guard<std::mutex> lock(self->mu);
    if (!self->stopped && self->acceptor.has_value()) self->DoAcceptLocked();
  });
}

void RestServer::Impl::Stop() {
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    std::unique_lock<std::mutex> lock(mu);
    stopped = true;
    // Destroying the acceptor closes the socket and aborts the pending accept.
    acceptor.reset();
    for (auto& [ptr, weak] : sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
    // Afterwards no handler runs for a connection, so handlers may capture objects that die
    // right after the server. A handler stopping its own server cannot wait for itself.
    if (t_dispatching_server != this) {
      dispatch_done.wait(lock, [this] { return dispatching == 0; });
    }
  }
  for (const auto& session : open) session->Close();
}

RestServer::RestServer(boost::asio::io_context& io, size_t max_body_bytes)
    : impl_(std::make_shared<Impl>(io, max_body_bytes)) {}

RestServer::~RestServer() { Stop(); }

void RestServer::SetMaxConnections(size_t max_connections) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  EDDY_CHECK(!impl_->listening) << "SetMaxConnections() after Listen()";
  impl_->max_connections = std::max<size_t>(1, max_connections);
}

void RestServer::SetIdleTimeout(std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  EDDY_CHECK(!impl_->listening) << "SetIdleTimeout() after Listen()";
  EDDY_CHECK(timeout.count() > 0) << "SetIdleTimeout(" << timeout.count() << "ms)";
  impl_->idle_timeout = timeout;
}

absl::Status RestServer::SetSpoolDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot make the REST spool directory ", dir, ": ", ec.message()));
  }
  // Bodies of requests that were arriving when an earlier run stopped.
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind("rest-body-", 0) == 0) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    }
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  EDDY_CHECK(!impl_->listening) << "SetSpoolDirectory() after Listen()";
  impl_->spool_dir = dir;
  return absl::OkStatus();
}

void RestServer::SetTls(std::shared_ptr<boost::asio::ssl::context> tls) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  EDDY_CHECK(!impl_->listening) << "SetTls() after Listen()";
  impl_->tls = std::move(tls);
}

void RestServer::SetAccessPolicy(RestAccessPolicy policy) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  EDDY_CHECK(!impl_->listening) << "SetAccessPolicy() after Listen()";
  impl_->policy = std::move(policy);
}

void RestServer::Route(const std::string& method, const std::string& pattern, Handler handler,
                       std::optional<RestRole> role) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    EDDY_CHECK(!impl_->listening) << "Route(" << method << " " << pattern
                                  << ") after Listen(): routes must be added first";
  }
  EDDY_CHECK(!pattern.empty() && pattern.front() == '/')
      << "route pattern must start with '/': " << pattern;
  EDDY_CHECK(handler != nullptr) << "no handler for " << method << " " << pattern;
  RouteEntry route{method, {}, 0, std::move(handler), role.value_or(DefaultRole(method))};
  for (absl::string_view segment : absl::StrSplit(pattern, '/', absl::SkipEmpty())) {
    route.segments.emplace_back(segment);
    if (!IsCapture(route.segments.back())) ++route.literal_segments;
  }
  impl_->routes.push_back(std::move(route));
}

absl::StatusOr<uint16_t> RestServer::Listen(const std::string& address, uint16_t port) {
  const std::string where = absl::StrCat(address, ":", port);
  beast::error_code ec;
  tcp::endpoint endpoint;
  net::ip::address ip = net::ip::make_address(address, ec);
  if (!ec) {
    endpoint = tcp::endpoint(ip, port);
  } else {
    // A host name such as "localhost": listen on its first address.
    tcp::resolver resolver(impl_->io);
    auto results = resolver.resolve(address, std::to_string(port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot listen on ", where,
                       ": cannot resolve address: ", ec ? ec.message() : "no addresses"));
    }
    endpoint = results.begin()->endpoint();
  }

  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopped) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", where, ": the server is stopped"));
  }
  if (impl_->listening) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", where, ": the server is already listening"));
  }
  tcp::acceptor acceptor(impl_->io);
  auto fail = [&](std::string_view step) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", where, ": ", Av(step), ": ", ec.message()));
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("set reuse_address");
  acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  uint16_t bound = acceptor.local_endpoint(ec).port();
  if (ec) return fail("local endpoint");

  impl_->acceptor.emplace(std::move(acceptor));
  impl_->listening = true;
  impl_->DoAcceptLocked();
  return bound;
}

void RestServer::Stop() { impl_->Stop(); }

RestResponse RestServer::Dispatch(const RestRequest& request) const {
  RestRequest copy = request;
  return impl_->Dispatch(copy, nullptr);
}

}  // namespace eddy
