// Session's admin half: an admin certificate's connection runs admin commands (coordinator/
// admin.h) and may upload a model export; it never joins rounds.
#include "coordinator/admin.h"
#include "coordinator/session.h"
#include "shared/base/log.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using shared::Result;
using shared::Status;

namespace {
constexpr const char* kLog = "session";
}  // namespace

net::awaitable<void> Session::RunAdmin() {
  FEDGE_LOG(Info, kLog) << "admin " << identity_.common_name << " connected from " << remote_;
  const Status s = co_await ReadMessages(/*admin=*/true);
  if (!s.ok() && s.code() != shared::Code::kUnavailable && !conn_->closed()) {
    FEDGE_LOG(Warn, kLog) << "closing admin " << identity_.common_name << ": " << s.ToString();
    conn_->SendAndClose(shared::MakeErrorMessage(s, 0, wire::ErrorSubject::Session));
  }
}

Status Session::DispatchAdmin(const wire::Envelope& env) {
  switch (env.message_type()) {
    case wire::Message::Heartbeat:
      return Status::Ok();
    case wire::Message::AdminRequest: {
      const wire::AdminRequest* req = env.message_as_AdminRequest();
      AdminCommand command;
      command.admin = identity_.common_name;
      command.name = req->command()->str();
      if (req->args() != nullptr) {
        for (const flatbuffers::String* a : *req->args()) command.args.push_back(a->str());
      }
      if (command.name == "model import") {
        if (!upload_.complete()) {
          SendError(
              Status::InvalidArgument("model import: upload the export file completely first"),
              req->request_id(), wire::ErrorSubject::Admin);
          return Status::Ok();
        }
        command.upload = upload_.Take();
      }
      const uint64_t id = req->request_id();
      auto self = shared_from_this();
      admin_->Handle(std::move(command), [self, id](Result<nlohmann::json> result) {
        if (!result.ok()) {
          self->SendError(result.status(), id, wire::ErrorSubject::Admin);
          return;
        }
        flatbuffers::FlatBufferBuilder fbb(1024);
        auto text = fbb.CreateString(result->dump());
        self->SendPayload(shared::FinishEnvelope(fbb, wire::CreateAdminResponse(fbb, id, text)));
      });
      return Status::Ok();
    }
    case wire::Message::BlobRequest: {
      const wire::BlobRequest* req = env.message_as_BlobRequest();
      FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                             shared::DigestField(req->digest(), "BlobRequest.digest"));
      Result<std::vector<uint8_t>> blob = store_->GetBlob(digest);
      if (!blob.ok()) {
        SendError(blob.status(), 0, wire::ErrorSubject::Blob);
        return Status::Ok();
      }
      if (req->offset() >= blob->size()) {
        return Status::InvalidArgument("BlobRequest offset is past the end of the blob");
      }
      uint64_t chunk = std::min<uint64_t>(shared::kDefaultChunkBytes, conn_->max_frame_bytes() / 2);
      std::vector<std::vector<uint8_t>> chunks;  // one batch (Connection::SendAll)
      for (const shared::ChunkRange& r : shared::ChunkRanges(blob->size(), req->offset(), chunk)) {
        chunks.push_back(shared::MakeBlobChunk(wire::BlobKind::Model, digest, blob->size(),
                                               r.offset,
                                               std::span(blob->data() + r.offset, r.size)));
      }
      conn_->SendAll(std::move(chunks));
      return Status::Ok();
    }
    case wire::Message::BlobChunk: {
      const wire::BlobChunk* chunk = env.message_as_BlobChunk();
      if (chunk->kind() != wire::BlobKind::ModelExport) {
        return Status::InvalidArgument("admins may only upload model export files");
      }
      FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                             shared::DigestField(chunk->digest(), "BlobChunk.digest"));
      Status s = upload_.Append(digest, chunk->total_size(), chunk->offset(),
                                std::span(chunk->data()->data(), chunk->data()->size()));
      if (!s.ok()) {
        upload_.Reset();
        SendError(s.WithContext("model export upload"), 0, wire::ErrorSubject::Admin);
      }
      return Status::Ok();
    }
    default:
      return Status::InvalidArgument(std::string("unexpected message ") +
                                     wire::EnumNameMessage(env.message_type()) + " from an admin");
  }
}

}  // namespace fedge::coordinator
