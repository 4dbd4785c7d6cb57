// Test support: a small HTTP/1.1 server on 127.0.0.1 that plays a service (IMDS, STS, a
// container credentials endpoint): each request goes to a handler on the server's thread,
// one connection at a time, and is recorded. Header-only (Boost.Beast).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "absl/strings/ascii.h"

namespace eddy::testing {

class FakeHttpServer {
 public:
  struct Request {
    std::string method;
    std::string target;                          // path and query
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };
  struct Response {
    int status = 200;
    std::string body;
  };
  using Handler = std::function<Response(const Request&)>;

  explicit FakeHttpServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeHttpServer() {
    stopping_ = true;
    boost::system::error_code ignored;
    {  // a connection to ourselves wakes the blocked accept, which then sees stopping_
      boost::asio::ip::tcp::socket poke(io_);
      poke.connect(acceptor_endpoint_, ignored);
    }
    thread_.join();
    acceptor_.close(ignored);
  }

  std::string Url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_endpoint_.port());
  }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    namespace http = boost::beast::http;
    while (true) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (stopping_) return;
      if (ec) continue;
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> message;
      http::read(socket, buffer, message, ec);
      if (ec) continue;
      Request request;
      request.method = std::string(message.method_string());
      request.target = std::string(message.target());
      request.body = message.body();
      for (const auto& field : message) {
        request.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
            std::string(field.value());
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(request);
      }
      const Response answer = handler_(request);
      http::response<http::string_body> response(static_cast<http::status>(answer.status), 11);
      response.body() = answer.body;
      response.keep_alive(false);
      response.prepare_payload();
      http::write(socket, response, ec);
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  Handler handler_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint acceptor_endpoint_ = acceptor_.local_endpoint();
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

}  // namespace eddy::testing
