#include "shared/net/connection.h"

#include <algorithm>

#include "shared/net/frame.h"

namespace fedge::shared {

using net::asio::redirect_error;
using net::asio::steady_timer;

namespace {
constexpr size_t kFirstReadBytes = 64 << 10;
}  // namespace

Status NetError(const net::error_code& ec, const std::string& what) {
  if (ec == net::asio::error::eof || ec == net::asio::ssl::error::stream_truncated ||
      ec == net::asio::error::connection_reset) {
    return Status::Unavailable(what + ": connection closed by peer");
  }
  return Status::Unavailable(what + ": " + ec.message());
}

Connection::Connection(net::TlsStream stream, uint32_t max_frame_bytes)
    : stream_(std::move(stream)),
      max_frame_bytes_(max_frame_bytes),
      read_timer_(stream_.get_executor()),
      write_timer_(stream_.get_executor()),
      write_signal_(stream_.get_executor()) {
  write_signal_.expires_at(steady_timer::time_point::max());
}

void Connection::ArmDeadline(steady_timer& timer, std::chrono::milliseconds timeout,
                             OnExpiry action) {
  timer.expires_after(timeout);
  std::weak_ptr<Connection> weak = weak_from_this();
  timer.async_wait([weak, &timer, action](const net::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    if (timer.expiry() <= Clock::now()) {
      self->timed_out_ = true;
      if (action == OnExpiry::kStopReading) {
        net::error_code ignored;
        self->stream_.lowest_layer().shutdown(net::tcp::socket::shutdown_receive, ignored);
      } else {
        self->CloseNow();
      }
    }
  });
}

net::awaitable<Status> Connection::Handshake(net::ssl::stream_base::handshake_type type,
                                             std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  ArmDeadline(read_timer_, timeout);
  net::error_code ec;
  co_await stream_.async_handshake(type, redirect_error(net::use_awaitable, ec));
  read_timer_.cancel();
  if (timed_out_) co_return Status::DeadlineExceeded("TLS handshake timed out");
  if (ec) co_return Status::PermissionDenied("TLS handshake failed: " + ec.message());
  co_return Status::Ok();
}

net::awaitable<Result<std::vector<uint8_t>>> Connection::ReadFrame(
    std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  if (closed_) co_return Status::Unavailable("connection closed");
  ArmDeadline(read_timer_, timeout, OnExpiry::kStopReading);
  std::array<uint8_t, kFrameHeaderBytes> header{};
  net::error_code ec;
  co_await net::asio::async_read(stream_, net::asio::buffer(header),
                                 redirect_error(net::use_awaitable, ec));
  if (ec) {
    read_timer_.cancel();
    if (timed_out_) co_return Status::DeadlineExceeded("no message within the read deadline");
    co_return NetError(ec, "read");
  }
  Result<uint32_t> size = DecodeFrameHeader(header, max_frame_bytes_);
  if (!size.ok()) {
    read_timer_.cancel();
    co_return size.status();
  }
  // The buffer grows as bytes arrive (64 KiB, then doubling), so a peer that announces 16 MiB
  // and sends nothing more costs 64 KiB, not 16 MiB of zeroed memory.
  std::vector<uint8_t> payload;
  while (payload.size() < *size && !ec) {
    const size_t have = payload.size();
    const size_t step = std::min<size_t>(*size - have, std::max<size_t>(kFirstReadBytes, have));
    payload.resize(have + step);
    co_await net::asio::async_read(stream_, net::asio::buffer(payload.data() + have, step),
                                   redirect_error(net::use_awaitable, ec));
  }
  read_timer_.cancel();
  if (ec) {
    if (timed_out_) co_return Status::DeadlineExceeded("frame not completed within the deadline");
    if (ec == net::asio::error::eof || ec == net::asio::ssl::error::stream_truncated) {
      co_return Status::Corruption("truncated frame: connection closed after " +
                                   std::to_string(kFrameHeaderBytes) + "-byte header announcing " +
                                   std::to_string(*size) + " bytes");
    }
    co_return NetError(ec, "read");
  }
  bytes_in_ += kFrameHeaderBytes + payload.size();
  if (counters_) counters_->bytes_in += kFrameHeaderBytes + payload.size();
  co_return payload;
}

net::awaitable<void> Connection::WriteLoop(std::shared_ptr<Connection> self,
                                           std::chrono::milliseconds write_timeout) {
  co_await self->Write(write_timeout);
}

net::awaitable<void> Connection::Write(std::chrono::milliseconds write_timeout) {
  while (!closed_) {
    if (queue_.empty()) {
      net::error_code ec;
      co_await write_signal_.async_wait(redirect_error(net::use_awaitable, ec));
      continue;
    }
    Outgoing item = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= item.payload.size();
    if (observer_) observer_(item.payload);
    auto header = EncodeFrameHeader(static_cast<uint32_t>(item.payload.size()));
    std::array<net::asio::const_buffer, 2> buffers{net::asio::buffer(header),
                                                   net::asio::buffer(item.payload)};
    ArmDeadline(write_timer_, write_timeout);
    net::error_code ec;
    co_await net::asio::async_write(stream_, buffers, redirect_error(net::use_awaitable, ec));
    write_timer_.cancel();
    if (ec) {
      CloseNow();
      co_return;
    }
    bytes_out_ += header.size() + item.payload.size();
    if (counters_) counters_->bytes_out += header.size() + item.payload.size();
    if (item.close_after) {
      // Graceful close: stop sending, then drain what the peer already sent so closing
      // does not reset the connection and destroy the final payload in flight.
      stream_.lowest_layer().shutdown(net::tcp::socket::shutdown_send, ec);
      ArmDeadline(write_timer_, std::chrono::milliseconds(1000));
      std::array<uint8_t, 4096> sink;
      while (!closed_) {
        co_await stream_.next_layer().async_read_some(net::asio::buffer(sink),
                                                      redirect_error(net::use_awaitable, ec));
        if (ec) break;
      }
      write_timer_.cancel();
      CloseNow();
      co_return;
    }
  }
}

void Connection::Enqueue(std::vector<Outgoing> items) {
  net::asio::dispatch(stream_.get_executor(),
                      [self = shared_from_this(), items = std::move(items)]() mutable {
                        if (self->closed_ || self->closing_) return;
                        // A batch (a message, or all the chunks of one transfer) is admitted while
                        // what is still queued is within the cap: a peer that asks faster than it
                        // reads is not served more, however large one transfer is.
                        if (self->queued_bytes_ > self->max_queued_bytes_) {
                          self->overflowed_ = true;
                          self->CloseNow();
                          return;
                        }
                        for (Outgoing& item : items) {
                          self->closing_ = self->closing_ || item.close_after;
                          self->queued_bytes_ += item.payload.size();
                          self->queue_.push_back(std::move(item));
                        }
                        self->write_signal_.cancel_one();
                      });
}

void Connection::Send(std::vector<uint8_t> payload) {
  std::vector<Outgoing> items;
  items.push_back({std::move(payload), false});
  Enqueue(std::move(items));
}

void Connection::SendAll(std::vector<std::vector<uint8_t>> payloads) {
  std::vector<Outgoing> items;
  items.reserve(payloads.size());
  for (auto& p : payloads) items.push_back({std::move(p), false});
  Enqueue(std::move(items));
}

void Connection::SendAndClose(std::vector<uint8_t> payload) {
  std::vector<Outgoing> items;
  items.push_back({std::move(payload), true});
  Enqueue(std::move(items));
}

void Connection::Close() {
  net::asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->CloseNow(); });
}

void Connection::CloseNow() {
  if (closed_.exchange(true)) return;
  net::error_code ignored;
  stream_.lowest_layer().shutdown(net::tcp::socket::shutdown_both, ignored);
  stream_.lowest_layer().close(ignored);
  read_timer_.cancel();
  write_timer_.cancel();
  write_signal_.cancel();
  queue_.clear();
  queued_bytes_ = 0;
}

}  // namespace fedge::shared
