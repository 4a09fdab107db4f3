#include "simulations/benchmarks/ingest_bench_net.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <latch>
#include <thread>

#include "shared/net/connection.h"
#include "shared/net/frame.h"

namespace fedge::sim {

using shared::Result;
using shared::Status;
using Clock = std::chrono::steady_clock;

Status BenchTlsClient::Connect(uint16_t port) {
  stream_ = std::make_unique<net::TlsStream>(io_, *ctx_);
  net::error_code ec;
  stream_->lowest_layer().connect({net::asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return shared::NetError(ec, "connect to 127.0.0.1:" + std::to_string(port));
  stream_->lowest_layer().set_option(net::tcp::no_delay(true), ec);
  FEDGE_RETURN_IF_ERROR(shared::ConfigureClientStream(*stream_, "localhost"));
  stream_->handshake(net::ssl::stream_base::client, ec);
  if (ec) return Status::PermissionDenied("TLS handshake: " + ec.message());
  return Status::Ok();
}

Status BenchTlsClient::Write(std::span<const uint8_t> bytes) {
  net::error_code ec;
  net::asio::write(*stream_, net::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec) return shared::NetError(ec, "write");
  return Status::Ok();
}

Status BenchTlsClient::ReadExact(std::span<uint8_t> bytes) {
  net::error_code ec;
  net::asio::read(*stream_, net::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec) return shared::NetError(ec, "read");
  return Status::Ok();
}

Status BenchTlsClient::WriteFrame(std::span<const uint8_t> payload) {
  return Write(shared::EncodeFrame(payload));
}

Result<std::vector<uint8_t>> BenchTlsClient::ReadFrame(uint32_t max_bytes) {
  std::array<uint8_t, shared::kFrameHeaderBytes> header{};
  net::error_code ec;
  net::asio::read(*stream_, net::asio::buffer(header), ec);
  if (ec) return shared::NetError(ec, "read");
  FEDGE_ASSIGN_OR_RETURN(uint32_t n, shared::DecodeFrameHeader(header, max_bytes));
  std::vector<uint8_t> payload(n);
  net::asio::read(*stream_, net::asio::buffer(payload), ec);
  if (ec) return shared::NetError(ec, "read");
  return payload;
}

Result<std::vector<uint8_t>> BenchTlsClient::ReadMessage(uint32_t max_bytes) {
  for (;;) {
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, ReadFrame(max_bytes));
    FEDGE_ASSIGN_OR_RETURN(const wire::Envelope* env, shared::VerifyEnvelope(frame));
    if (env->message_type() != wire::Message::Heartbeat) return frame;
  }
}

std::string BenchTlsClient::CipherDescription() {
  SSL* ssl = stream_->native_handle();
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  return std::string(SSL_get_version(ssl)) + " " +
         (cipher != nullptr ? SSL_CIPHER_get_name(cipher) : "(no cipher)");
}

void BenchTlsClient::Close() {
  if (!stream_) return;
  net::error_code ignored;
  stream_->lowest_layer().shutdown(net::tcp::socket::shutdown_both, ignored);
  stream_->lowest_layer().close(ignored);
}

namespace {

// Server side of one reference connection: handshake, then `frames` frames read like
// shared::Connection::ReadFrame does and dropped, then one byte to say "all read".
Status ServeBulk(net::tcp::socket socket, net::ssl::context* ctx, size_t frames) {
  net::TlsStream stream(std::move(socket), *ctx);
  net::error_code ec;
  stream.handshake(net::ssl::stream_base::server, ec);
  if (ec) return Status::PermissionDenied("reference server handshake: " + ec.message());
  for (size_t i = 0; i < frames; ++i) {
    std::array<uint8_t, shared::kFrameHeaderBytes> header{};
    net::asio::read(stream, net::asio::buffer(header), ec);
    if (ec) return shared::NetError(ec, "reference server read");
    FEDGE_ASSIGN_OR_RETURN(uint32_t n,
                           shared::DecodeFrameHeader(header, shared::kDefaultMaxFrameBytes));
    std::vector<uint8_t> payload(n);
    net::asio::read(stream, net::asio::buffer(payload), ec);
    if (ec) return shared::NetError(ec, "reference server read");
  }
  const uint8_t done = 1;
  net::asio::write(stream, net::asio::buffer(&done, 1), ec);
  if (ec) return shared::NetError(ec, "reference server write");
  return Status::Ok();
}

struct ClientRun {
  Status status;
  Clock::time_point start;
  Clock::time_point end;
  std::string cipher;
};

// Client side of one reference connection. Arrives at `ready` exactly once, connected or not.
void SendBulk(net::ssl::context* ctx, uint16_t port,
              std::span<const std::span<const uint8_t>> frames, std::latch* ready, ClientRun* out) {
  BenchTlsClient client(ctx);
  Status connected = client.Connect(port);
  if (connected.ok()) out->cipher = client.CipherDescription();
  ready->arrive_and_wait();
  if (!connected.ok()) {
    out->status = connected;
    return;
  }
  out->start = Clock::now();
  for (std::span<const uint8_t> frame : frames) {
    if (out->status = client.Write(frame); !out->status.ok()) return;
  }
  uint8_t done = 0;
  out->status = client.ReadExact(std::span<uint8_t>(&done, 1));
  out->end = Clock::now();
  client.Close();
}

}  // namespace

Result<BulkResult> RunTlsBulkReference(
    const shared::TlsFiles& server_files, const std::vector<shared::TlsFiles>& client_files,
    const std::vector<std::vector<std::span<const uint8_t>>>& frames) {
  const size_t n = client_files.size();
  if (n == 0 || frames.size() != n) {
    return Status::InvalidArgument("the reference needs one frame list per client");
  }
  for (const auto& f : frames) {
    if (f.size() != frames[0].size()) {
      return Status::InvalidArgument("every reference connection must send as many frames");
    }
  }
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<net::ssl::context> server_ctx,
                         shared::MakeServerTlsContext(server_files));
  std::vector<std::unique_ptr<net::ssl::context>> client_ctx;
  for (const shared::TlsFiles& files : client_files) {
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<net::ssl::context> ctx,
                           shared::MakeClientTlsContext(files));
    client_ctx.push_back(std::move(ctx));
  }
  net::asio::io_context io;  // never run: only blocking operations
  net::error_code ec;
  net::tcp::acceptor acceptor(io);
  net::tcp::endpoint endpoint(net::asio::ip::make_address("127.0.0.1"), 0);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("reference server cannot listen: " + ec.message());
  const uint16_t port = acceptor.local_endpoint().port();

  std::vector<Status> served(n);
  std::vector<std::thread> servers;
  std::thread acceptor_thread([&] {
    for (size_t i = 0; i < n; ++i) {
      net::error_code aec;
      net::tcp::socket socket = acceptor.accept(aec);
      if (aec) {
        served[i] = shared::NetError(aec, "reference accept");
        return;
      }
      socket.set_option(net::tcp::no_delay(true), aec);
      servers.emplace_back([&served, i, s = std::move(socket), ctx = server_ctx.get(),
                            count = frames[0].size()]() mutable {
        served[i] = ServeBulk(std::move(s), ctx, count);
      });
    }
  });
  std::latch ready(static_cast<std::ptrdiff_t>(n));
  std::vector<ClientRun> runs(n);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < n; ++i) {
    clients.emplace_back(
        [&, i] { SendBulk(client_ctx[i].get(), port, frames[i], &ready, &runs[i]); });
  }
  for (auto& t : clients) t.join();
  acceptor_thread.join();
  for (auto& t : servers) t.join();
  BulkResult result;
  Clock::time_point first = Clock::time_point::max();
  Clock::time_point last = Clock::time_point::min();
  for (size_t i = 0; i < n; ++i) {
    FEDGE_RETURN_IF_ERROR(runs[i].status);
    FEDGE_RETURN_IF_ERROR(served[i]);
    first = std::min(first, runs[i].start);
    last = std::max(last, runs[i].end);
    for (std::span<const uint8_t> f : frames[i]) result.frame_bytes += f.size();
  }
  result.seconds = std::chrono::duration<double>(last - first).count();
  result.cipher = runs[0].cipher;
  return result;
}

}  // namespace fedge::sim
