#pragma once
// Network pieces of ingest_bench: a blocking mutual-TLS client (one per thread) that speaks
// fedge frames, and the reference it is compared with: a plain TLS 1.3 bulk transfer over
// loopback with the coordinator's own TLS contexts, whose server only reads and discards.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "shared/base/status.h"
#include "shared/net/asio.h"
#include "shared/net/tls.h"

namespace fedge::sim {

// A blocking TLS client connection on its own io_context. Not thread-safe: one thread owns
// it. The TLS context is borrowed and must outlive the client.
class BenchTlsClient {
 public:
  explicit BenchTlsClient(net::ssl::context* ctx) : ctx_(ctx) {}

  // Connects to 127.0.0.1:port (TCP_NODELAY, as the coordinator sets it), checks the
  // coordinator's certificate for "localhost" and completes the handshake.
  shared::Status Connect(uint16_t port);
  shared::Status Write(std::span<const uint8_t> bytes);
  shared::Status ReadExact(std::span<uint8_t> bytes);
  // Writes a 4-byte length header and `payload` in one write.
  shared::Status WriteFrame(std::span<const uint8_t> payload);
  // Reads one frame's payload; ResourceExhausted above `max_bytes`.
  shared::Result<std::vector<uint8_t>> ReadFrame(uint32_t max_bytes);
  // Reads frames until one that is not a Heartbeat (the payload is a verified Envelope).
  shared::Result<std::vector<uint8_t>> ReadMessage(uint32_t max_bytes);
  // Negotiated protocol and cipher suite, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384".
  // REQUIRES: Connect() succeeded.
  std::string CipherDescription();
  void Close();

 private:
  net::ssl::context* ctx_;
  net::asio::io_context io_;
  std::unique_ptr<net::TlsStream> stream_;
};

// The reference transfer: `client_files.size()` connections (client i authenticates with
// client_files[i]) to a server using `server_files`; after every handshake has completed,
// connection i writes each of frames[i] (complete frames: header and payload) in one write
// each, and the server reads every frame the way shared::Connection does (header, then a
// freshly allocated payload) and discards it. When a connection's last frame is read the
// server writes one byte; the client's clock stops when it arrives. A connection that fails
// to set up can leave the others waiting: run it under a watchdog.
// REQUIRES: every frames[i] has as many frames.
struct BulkResult {
  double seconds = 0;  // first client write to the last client's end-of-transfer byte
  uint64_t frame_bytes = 0;
  std::string cipher;  // as seen by client 0
};
shared::Result<BulkResult> RunTlsBulkReference(
    const shared::TlsFiles& server_files, const std::vector<shared::TlsFiles>& client_files,
    const std::vector<std::vector<std::span<const uint8_t>>>& frames);

}  // namespace fedge::sim
