#include <random>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto/rpc.pb.h"
#include "common/rpc/frame.h"
#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"

namespace eddy::rpc {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

bool WaitFor(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

TEST(FrameDecoderTest, RoundTripsFramesSplitAtEveryByte) {
  std::vector<std::string> bodies = {"", "a", std::string(1000, 'x'), "hello world"};
  std::string stream;
  for (const auto& b : bodies) stream += EncodeFrame(b);
  for (size_t chunk = 1; chunk <= stream.size(); chunk += 7) {
    FrameDecoder decoder(1 << 20);
    std::vector<std::string> got;
    for (size_t pos = 0; pos < stream.size(); pos += chunk) {
      ASSERT_TRUE(decoder.Feed(std::string_view(stream).substr(pos, chunk)).ok());
      while (auto frame = decoder.Next()) got.push_back(*frame);
    }
    EXPECT_EQ(got, bodies) << "chunk size " << chunk;
    EXPECT_FALSE(decoder.HasPartialFrame());
    EXPECT_TRUE(decoder.Finish().ok());
  }
}

TEST(FrameDecoderTest, RejectsOversizedFrameFromItsHeader) {
  FrameDecoder decoder(100);
  std::string frame = EncodeFrame(std::string(101, 'x'));
  absl::Status status = decoder.Feed(frame.substr(0, 4));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("rpc.max-frame-size"));
  EXPECT_FALSE(decoder.Next().has_value());
  EXPECT_FALSE(decoder.Feed("more").ok());  // stays failed
}

TEST(FrameDecoderTest, AcceptsFrameAtExactLimit) {
  FrameDecoder decoder(100);
  ASSERT_TRUE(decoder.Feed(EncodeFrame(std::string(100, 'x'))).ok());
  auto frame = decoder.Next();
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->size(), 100u);
}

TEST(FrameDecoderTest, ReportsTruncatedFrameAtEndOfStream) {
  FrameDecoder decoder(1 << 20);
  std::string frame = EncodeFrame("0123456789");
  ASSERT_TRUE(decoder.Feed(frame.substr(0, 8)).ok());
  EXPECT_FALSE(decoder.Next().has_value());
  EXPECT_TRUE(decoder.HasPartialFrame());
  absl::Status status = decoder.Finish();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("4 of 10 body bytes"));
}

TEST(FrameDecoderTest, RandomBytesNeverCrash) {
  std::mt19937 gen(42);
  for (int round = 0; round < 200; ++round) {
    FrameDecoder decoder(4096);
    std::string junk(gen() % 300, '\0');
    for (auto& c : junk) c = static_cast<char>(gen());
    (void)decoder.Feed(junk);
    while (auto frame = decoder.Next()) {
      Envelope env;
      (void)env.ParseFromString(*frame);
    }
    (void)decoder.Finish();
  }
}

/// A server with an "Echo" method on its own io_context thread.
class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<RpcServer>(io_, options_, "test-server");
    server_->RegisterRaw("Echo", [](const CallContext&, const std::string& payload)
                                     -> absl::StatusOr<std::string> { return "echo:" + payload; });
    server_->RegisterRaw("Fail", [](const CallContext&, const std::string&)
                                     -> absl::StatusOr<std::string> {
      return absl::InvalidArgumentError("bad thing");
    });
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    work_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    server_->Stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  /// Connects a raw socket (no handshake) to the server.
  boost::asio::ip::tcp::socket RawSocket() {
    boost::asio::ip::tcp::socket socket(raw_io_);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port_});
    return socket;
  }

  /// Returns true if the server closes `socket` within `timeout`.
  static bool ClosedByServer(boost::asio::ip::tcp::socket& socket,
                             std::chrono::milliseconds timeout) {
    struct timeval tv {};
    tv.tv_sec = timeout.count() / 1000;
    tv.tv_usec = (timeout.count() % 1000) * 1000;
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[256];
    while (true) {
      ssize_t n = ::recv(socket.native_handle(), buf, sizeof(buf), 0);
      if (n == 0) return true;            // orderly close
      if (n < 0) return errno == ECONNRESET;  // timeout (EAGAIN) means still open
    }
  }

  void ExpectServerStillServes() {
    boost::asio::io_context io;
    auto guard = boost::asio::make_work_guard(io);
    std::thread t([&] { io.run(); });
    {
      RpcClient client(io, options_, "checker");
      absl::Status connected = client.Connect("127.0.0.1", port_, 5s);
      EXPECT_TRUE(connected.ok()) << connected;
      auto reply = client.CallRaw("Echo", "still alive", 5s);
      EXPECT_TRUE(reply.ok()) << reply.status();
      if (reply.ok()) {
        EXPECT_EQ(*reply, "echo:still alive");
      }
      client.Close();
    }
    guard.reset();
    io.stop();
    t.join();
  }

  ConnectionOptions options_{.max_frame_bytes = 4096, .frame_timeout = 300ms};
  boost::asio::io_context io_;
  boost::asio::io_context raw_io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::unique_ptr<RpcServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(RpcTest, CallRoundTripsAndCorrelatesConcurrentCalls) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  RpcClient client(io, options_, "client");
  ASSERT_TRUE(client.Connect("127.0.0.1", port_, 5s).ok());
  std::vector<std::thread> callers;
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&, i] {
      for (int j = 0; j < 50; ++j) {
        std::string payload = std::to_string(i) + "-" + std::to_string(j);
        auto reply = client.CallRaw("Echo", payload, 5s);
        if (reply.ok() && *reply == "echo:" + payload) ++good;
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(good.load(), 400);
  auto failed = client.CallRaw("Fail", "", 5s);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(failed.status().message()), "bad thing");
  auto unknown = client.CallRaw("Nope", "", 5s);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("Nope"));
  client.Close();
  guard.reset();
  io.stop();
  t.join();
}

TEST_F(RpcTest, ConnectToSilentServerHitsDeadline) {
  // A listener that accepts but never answers the handshake.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto guard = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  RpcClient client(io, options_, "client");
  auto start = std::chrono::steady_clock::now();
  absl::Status status = client.Connect("127.0.0.1", silent.local_endpoint().port(), 300ms);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  client.Close();
  guard.reset();
  io.stop();
  t.join();
}

TEST_F(RpcTest, ConnectToClosedPortIsUnavailable) {
  boost::asio::io_context io;
  RpcClient client(io, options_, "client");
  uint16_t closed_port;
  {
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    closed_port = a.local_endpoint().port();
  }
  auto guard = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  absl::Status status = client.Connect("127.0.0.1", closed_port, 2s);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  guard.reset();
  io.stop();
  t.join();
}

TEST_F(RpcTest, CallsInFlightFailWhenServerGoesAway) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  RpcClient client(io, options_, "client");
  ASSERT_TRUE(client.Connect("127.0.0.1", port_, 5s).ok());
  server_->Stop();
  ASSERT_TRUE(WaitFor([&] { return !client.connected(); }));
  auto reply = client.CallRaw("Echo", "x", 2s);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  guard.reset();
  io.stop();
  t.join();
}

TEST_F(RpcTest, OversizedFrameClosesOnlyThatConnection) {
  auto socket = RawSocket();
  std::string header = EncodeFrame(std::string(5000, 'x')).substr(0, 4);  // > 4096 limit
  boost::asio::write(socket, boost::asio::buffer(header));
  EXPECT_TRUE(ClosedByServer(socket, 3s));
  ExpectServerStillServes();
}

TEST_F(RpcTest, TruncatedFrameAtEndOfStreamIsRejected) {
  {
    auto socket = RawSocket();
    std::string frame = EncodeFrame(std::string(100, 'x'));
    boost::asio::write(socket, boost::asio::buffer(frame.substr(0, 30)));
    socket.close();
  }
  ExpectServerStillServes();
}

TEST_F(RpcTest, StalledPartialFrameIsClosedAfterFrameTimeout) {
  auto socket = RawSocket();
  std::string frame = EncodeFrame(std::string(100, 'x'));
  boost::asio::write(socket, boost::asio::buffer(frame.substr(0, 30)));
  EXPECT_TRUE(ClosedByServer(socket, 3s));  // frame_timeout is 300ms
  ExpectServerStillServes();
}

TEST_F(RpcTest, UndecodableFrameIsRejected) {
  auto socket = RawSocket();
  // 0xff bytes are not a valid protobuf encoding of Envelope.
  std::string frame = EncodeFrame(std::string(64, '\xff'));
  boost::asio::write(socket, boost::asio::buffer(frame));
  EXPECT_TRUE(ClosedByServer(socket, 3s));
  ExpectServerStillServes();
}

TEST_F(RpcTest, RequestBeforeHandshakeIsRejected) {
  auto socket = RawSocket();
  Envelope env;
  env.set_kind(Envelope::REQUEST);
  env.set_method("Echo");
  env.set_payload("sneaky");
  boost::asio::write(socket, boost::asio::buffer(EncodeFrame(env.SerializeAsString())));
  EXPECT_TRUE(ClosedByServer(socket, 3s));
  ExpectServerStillServes();
}

TEST_F(RpcTest, VersionMismatchIsAnsweredWithAnErrorAndClosed) {
  auto socket = RawSocket();
  Hello hello;
  hello.set_protocol_version(kProtocolVersion + 98);
  hello.set_peer_name("from-the-future");
  Envelope env;
  env.set_kind(Envelope::REQUEST);
  env.set_correlation_id(7);
  env.set_method("_hello");
  env.set_payload(hello.SerializeAsString());
  boost::asio::write(socket, boost::asio::buffer(EncodeFrame(env.SerializeAsString())));
  char header[4];
  boost::asio::read(socket, boost::asio::buffer(header, 4));
  uint32_t length = (uint32_t(uint8_t(header[0])) << 24) | (uint32_t(uint8_t(header[1])) << 16) |
                    (uint32_t(uint8_t(header[2])) << 8) | uint32_t(uint8_t(header[3]));
  std::string body(length, '\0');
  boost::asio::read(socket, boost::asio::buffer(body));
  Envelope response;
  ASSERT_TRUE(response.ParseFromString(body));
  EXPECT_EQ(response.correlation_id(), 7u);
  EXPECT_EQ(response.status_code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(response.status_message(), HasSubstr("protocol version mismatch"));
  EXPECT_TRUE(ClosedByServer(socket, 3s));
  ExpectServerStillServes();
}

TEST_F(RpcTest, GarbageBytesDoNotDisturbOtherClients) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  RpcClient client(io, options_, "steady-client");
  ASSERT_TRUE(client.Connect("127.0.0.1", port_, 5s).ok());
  std::mt19937 gen(7);
  for (int i = 0; i < 20; ++i) {
    auto socket = RawSocket();
    std::string junk(1 + gen() % 2000, '\0');
    for (auto& c : junk) c = static_cast<char>(gen());
    boost::system::error_code ignored;
    boost::asio::write(socket, boost::asio::buffer(junk), ignored);
    socket.close();
    auto reply = client.CallRaw("Echo", std::to_string(i), 5s);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, "echo:" + std::to_string(i));
  }
  client.Close();
  guard.reset();
  io.stop();
  t.join();
}

}  // namespace
}  // namespace eddy::rpc
