#pragma once
// One framed, TLS-protected connection: a reader API with deadlines and a single writer
// fed by a queue (Asio chat-server pattern). All members live on the stream's strand.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/net/asio.h"

namespace fedge::shared {

// Bytes counted on the wire (frame headers + payloads) across many connections.
struct TrafficCounters {
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Clock = std::chrono::steady_clock;

  // REQUIRES: the stream's socket uses a strand (or single-threaded) executor.
  Connection(net::TlsStream stream, uint32_t max_frame_bytes);

  net::TlsStream& stream() { return stream_; }
  net::any_io_executor executor() { return stream_.get_executor(); }

  // TLS handshake with a deadline. Must run on the strand.
  net::awaitable<Status> Handshake(net::ssl::stream_base::handshake_type type,
                                   std::chrono::milliseconds timeout);
  // Reads one frame payload (header cap checked before allocation). Must run on the strand,
  // from one reader at a time. DeadlineExceeded when nothing complete arrives in `timeout`.
  net::awaitable<Result<std::vector<uint8_t>>> ReadFrame(std::chrono::milliseconds timeout);
  // Runs the writer until the connection closes; spawn once after the handshake. Takes its
  // owner as a parameter so the connection lives as long as the writer.
  static net::awaitable<void> WriteLoop(std::shared_ptr<Connection> self,
                                        std::chrono::milliseconds write_timeout);

  // Thread-safe. Queues a payload for the writer; ignored once closed. When more than
  // max_queued_bytes() are still queued, a new payload closes the connection instead: a peer
  // that asks faster than it reads is not buffered for without bound (send_queue_overflowed()
  // then says so). So the queue holds at most the cap plus one batch.
  void Send(std::vector<uint8_t> payload);
  // Thread-safe. Queues the payloads as one batch (e.g. every chunk of one blob transfer):
  // admitted or refused as a whole, like one Send, so a transfer larger than the cap still goes
  // out whole to a peer that reads.
  void SendAll(std::vector<std::vector<uint8_t>> payloads);
  // Thread-safe. Queues a final payload (e.g. an Error) then closes after writing it.
  void SendAndClose(std::vector<uint8_t> payload);
  // Thread-safe. Closes the socket; pending reads and writes fail.
  void Close();

  // Also count this connection's traffic in `counters` (set before the first read/write).
  void set_traffic_counters(std::shared_ptr<TrafficCounters> c) { counters_ = std::move(c); }

  // Called on the strand with every payload just before it is written to the socket: the one
  // place that sees everything this end sends (the client's audit log hangs here). Set before
  // the writer starts; must not block.
  using SendObserver = std::function<void(std::span<const uint8_t> payload)>;
  void set_send_observer(SendObserver observer) { observer_ = std::move(observer); }

  bool closed() const { return closed_.load(); }
  uint64_t bytes_in() const { return bytes_in_.load(); }
  uint64_t bytes_out() const { return bytes_out_.load(); }
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }
  // Set before the first Send. Default: no cap (a client queues only what it sends itself; the
  // coordinator sets limits.send_queue_bytes on its sessions).
  void set_max_queued_bytes(uint64_t bytes) { max_queued_bytes_ = bytes; }
  uint64_t max_queued_bytes() const { return max_queued_bytes_; }
  bool send_queue_overflowed() const { return overflowed_.load(); }

 private:
  struct Outgoing {
    std::vector<uint8_t> payload;
    bool close_after = false;
  };
  void Enqueue(std::vector<Outgoing> items);
  net::awaitable<void> Write(std::chrono::milliseconds write_timeout);
  void CloseNow();
  // When `timer` expires at its current expiry: for reads, shut down the receive side so
  // the pending read ends (and an Error can still be written); otherwise close.
  enum class OnExpiry { kClose, kStopReading };
  void ArmDeadline(net::asio::steady_timer& timer, std::chrono::milliseconds timeout,
                   OnExpiry action = OnExpiry::kClose);

  net::TlsStream stream_;
  uint32_t max_frame_bytes_;
  net::asio::steady_timer read_timer_;
  net::asio::steady_timer write_timer_;
  net::asio::steady_timer write_signal_;
  std::deque<Outgoing> queue_;  // guarded by the strand
  uint64_t queued_bytes_ = 0;   // payload bytes in queue_; strand-owned
  uint64_t max_queued_bytes_ = UINT64_MAX;
  std::atomic<bool> overflowed_{false};
  std::atomic<bool> closed_{false};
  bool closing_ = false;  // a final payload is queued; strand-owned
  std::atomic<bool> timed_out_{false};
  std::atomic<uint64_t> bytes_in_{0};
  std::atomic<uint64_t> bytes_out_{0};
  std::shared_ptr<TrafficCounters> counters_;
  SendObserver observer_;
};

// Converts an Asio error to a Status with context.
Status NetError(const net::error_code& ec, const std::string& what);

}  // namespace fedge::shared
