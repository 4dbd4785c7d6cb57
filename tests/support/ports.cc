#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <random>
#include <unistd.h>

#include "tests/support/process.h"

namespace eddy::testing {

// Ports the tests hand to processes come from below the kernel's ephemeral range (32768 and
// up on Linux): processes that listen on port 0 (TaskManager data and RPC ports) get
// ephemeral ports, so they can never take a port a test picked but has not bound yet.
uint16_t PickFreePort() {
  constexpr int kLow = 20000;
  constexpr int kHigh = 32767;
  static std::mt19937 rng(static_cast<unsigned>(::getpid()) ^
                          static_cast<unsigned>(
                              std::chrono::steady_clock::now().time_since_epoch().count()));
  boost::asio::io_context io;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<uint16_t>(kLow + static_cast<int>(rng() % (kHigh - kLow + 1)));
    boost::asio::ip::tcp::acceptor acceptor(io);
    boost::system::error_code ec;
    acceptor.open(boost::asio::ip::tcp::v4(), ec);
    if (ec) continue;
    acceptor.bind(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port),
                  ec);
    if (!ec) return port;
  }
  // Every try was taken: fall back to a port the kernel picks.
  boost::asio::ip::tcp::acceptor acceptor(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace eddy::testing
