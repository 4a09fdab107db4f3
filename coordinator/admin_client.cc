#include "coordinator/admin_client.h"

#include <sys/socket.h>

#include <array>
#include <filesystem>

#include "schemas/fedge_generated.h"
#include "shared/base/config.h"
#include "shared/net/blob.h"
#include "shared/net/frame.h"
#include "shared/net/tls.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

struct AdminClient::Impl {
  net::asio::io_context io;
  std::unique_ptr<net::ssl::context> tls;
  std::unique_ptr<net::TlsStream> stream;
};

AdminClient::AdminClient() : impl_(std::make_unique<Impl>()) {}
AdminClient::~AdminClient() = default;

Result<std::unique_ptr<AdminClient>> AdminClient::Connect(const AdminConnectOptions& o) {
  const std::string toml = (std::filesystem::path(o.kit_dir) / "admin.toml").string();
  if (!std::filesystem::exists(toml)) {
    return Status::NotFound("no admin.toml in " + o.kit_dir +
                            "; --kit must name an admin startup kit made by `fedgectl "
                            "provision` (e.g. kits/admins/admin)");
  }
  FEDGE_ASSIGN_OR_RETURN(shared::ConfigFile file, shared::ConfigFile::Load(toml));
  FEDGE_RETURN_IF_ERROR(file.CheckKnownKeys(
      {"coordinator.host", "coordinator.port", "tls.ca", "tls.cert", "tls.key"}));
  shared::TlsFiles files;
  FEDGE_ASSIGN_OR_RETURN(files.ca, file.Path("tls.ca"));
  FEDGE_ASSIGN_OR_RETURN(files.cert, file.Path("tls.cert"));
  FEDGE_ASSIGN_OR_RETURN(files.key, file.Path("tls.key"));
  FEDGE_ASSIGN_OR_RETURN(std::string host, file.String("coordinator.host"));
  FEDGE_ASSIGN_OR_RETURN(int64_t port, file.Int("coordinator.port", std::nullopt, 1, 65535));
  if (!o.host.empty()) host = o.host;
  if (o.port != 0) port = o.port;

  std::unique_ptr<AdminClient> c(new AdminClient());
  c->endpoint_ = host + ":" + std::to_string(port);
  FEDGE_ASSIGN_OR_RETURN(c->impl_->tls, shared::MakeClientTlsContext(files));
  net::error_code ec;
  net::tcp::resolver resolver(c->impl_->io);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return Status::Unavailable("cannot resolve " + host + ": " + ec.message());
  c->impl_->stream = std::make_unique<net::TlsStream>(c->impl_->io, *c->impl_->tls);
  net::asio::connect(c->impl_->stream->lowest_layer(), endpoints, ec);
  if (ec) {
    return Status::Unavailable("cannot connect to the coordinator at " + c->endpoint_ + ": " +
                               ec.message() + " (is fedge-coordinator running there?)");
  }
  timeval tv{o.timeout_seconds, 0};
  int fd = c->impl_->stream->lowest_layer().native_handle();
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  FEDGE_RETURN_IF_ERROR(shared::ConfigureClientStream(*c->impl_->stream, host));
  c->impl_->stream->handshake(net::ssl::stream_base::client, ec);
  if (ec) {
    return Status::PermissionDenied("TLS handshake with " + c->endpoint_ +
                                    " failed: " + ec.message() +
                                    " (is this admin kit from the coordinator's project?)");
  }
  flatbuffers::FlatBufferBuilder fbb(128);
  auto software = fbb.CreateString("fedgectl 0.1");
  FEDGE_RETURN_IF_ERROR(c->WriteFrame(shared::FinishEnvelope(
      fbb, wire::CreateHello(fbb, shared::kProtocolVersion, shared::kProtocolVersion, software))));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, c->ReadMessage());
  FEDGE_ASSIGN_OR_RETURN(const wire::Envelope* env, shared::VerifyEnvelope(frame));
  if (const wire::Error* e = env->message_as_Error()) {
    return Status(shared::FromWireCode(e->code()), "coordinator refused: " + e->message()->str());
  }
  if (env->message_as_Welcome() == nullptr) {
    return Status::InvalidArgument("expected Welcome from the coordinator");
  }
  return c;
}

Status AdminClient::WriteFrame(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> frame = shared::EncodeFrame(payload);
  net::error_code ec;
  net::asio::write(*impl_->stream, net::asio::buffer(frame), ec);
  if (ec) return Status::Unavailable("sending to " + endpoint_ + ": " + ec.message());
  return Status::Ok();
}

Result<std::vector<uint8_t>> AdminClient::ReadMessage() {
  for (;;) {
    std::array<uint8_t, 4> header{};
    net::error_code ec;
    net::asio::read(*impl_->stream, net::asio::buffer(header), ec);
    if (ec) {
      return Status::Unavailable("no answer from " + endpoint_ + ": " + ec.message());
    }
    FEDGE_ASSIGN_OR_RETURN(uint32_t n, shared::DecodeFrameHeader(header, 64u << 20));
    std::vector<uint8_t> payload(n);
    net::asio::read(*impl_->stream, net::asio::buffer(payload), ec);
    if (ec) return Status::Unavailable("reading from " + endpoint_ + ": " + ec.message());
    FEDGE_ASSIGN_OR_RETURN(const wire::Envelope* env, shared::VerifyEnvelope(payload));
    // Messages the coordinator sends every client session (a client kit used by mistake gets
    // them before the Error its AdminRequest earns) are not answers.
    const wire::Message type = env->message_type();
    if (type != wire::Message::Heartbeat && type != wire::Message::ReferenceProfile &&
        type != wire::Message::TaskOffer) {
      return payload;
    }
  }
}

std::vector<uint8_t> MakeAdminRequest(uint64_t request_id, const std::string& command,
                                      const std::vector<std::string>& args) {
  flatbuffers::FlatBufferBuilder fbb(256);
  auto name = fbb.CreateString(command);
  auto a = fbb.CreateVectorOfStrings(args);
  return shared::FinishEnvelope(fbb, wire::CreateAdminRequest(fbb, request_id, name, a));
}

Result<nlohmann::json> ParseAdminAnswer(std::span<const uint8_t> frame, uint64_t request_id) {
  FEDGE_ASSIGN_OR_RETURN(const wire::Envelope* env, shared::VerifyEnvelope(frame));
  if (const wire::Error* e = env->message_as_Error()) {
    return Status(shared::FromWireCode(e->code()), e->message()->str());
  }
  const wire::AdminResponse* r = env->message_as_AdminResponse();
  if (r == nullptr || r->request_id() != request_id) {
    return Status::Internal(std::string("unexpected answer ") +
                            wire::EnumNameMessage(env->message_type()) + " to admin request " +
                            std::to_string(request_id));
  }
  try {
    return nlohmann::json::parse(r->json()->str());
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("the coordinator's answer is not JSON: ") + e.what());
  }
}

Result<nlohmann::json> AdminClient::Call(AdminCommandId command,
                                         const std::vector<std::string>& args) {
  const uint64_t id = next_request_++;
  const std::string name(AdminCommandInfo(command).name);
  FEDGE_RETURN_IF_ERROR(WriteFrame(MakeAdminRequest(id, name, args)));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, ReadMessage());
  return ParseAdminAnswer(frame, id);
}

Result<std::vector<uint8_t>> AdminClient::FetchBlob(const shared::Digest& digest,
                                                    const TransferProgress& progress) {
  FEDGE_RETURN_IF_ERROR(WriteFrame(shared::MakeBlobRequest(wire::BlobKind::Model, digest, 0)));
  shared::BlobAssembler blob(size_t{2} << 30);
  while (!blob.complete()) {
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> frame, ReadMessage());
    FEDGE_ASSIGN_OR_RETURN(const wire::Envelope* env, shared::VerifyEnvelope(frame));
    if (const wire::Error* e = env->message_as_Error()) {
      return Status(shared::FromWireCode(e->code()), e->message()->str());
    }
    const wire::BlobChunk* c = env->message_as_BlobChunk();
    if (c == nullptr) return Status::Internal("expected model blob chunks");
    FEDGE_ASSIGN_OR_RETURN(shared::Digest d, shared::DigestField(c->digest(), "BlobChunk.digest"));
    FEDGE_RETURN_IF_ERROR(blob.Append(d, c->total_size(), c->offset(),
                                      std::span(c->data()->data(), c->data()->size())));
    if (progress) progress(blob.received(), c->total_size());
  }
  return blob.Take();
}

Status AdminClient::UploadExport(const std::vector<uint8_t>& bytes,
                                 const TransferProgress& progress) {
  shared::Digest digest = shared::Sha256(bytes);
  for (const shared::ChunkRange& r :
       shared::ChunkRanges(bytes.size(), 0, shared::kDefaultChunkBytes)) {
    FEDGE_RETURN_IF_ERROR(
        WriteFrame(shared::MakeBlobChunk(wire::BlobKind::ModelExport, digest, bytes.size(),
                                         r.offset, std::span(bytes.data() + r.offset, r.size))));
    if (progress) progress(r.offset + r.size, bytes.size());
  }
  return Status::Ok();
}

}  // namespace fedge::coordinator
