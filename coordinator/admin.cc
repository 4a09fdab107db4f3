#include "coordinator/admin.h"

#include <charconv>
#include <cstdlib>

#include "coordinator/registry.h"
#include "coordinator/rollout.h"
#include "shared/base/log.h"
#include "shared/crypto/pki.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;

namespace {
constexpr const char* kLog = "admin";

Result<uint64_t> ParseUint(const std::string& text, const std::string& what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return shared::Status::InvalidArgument(what + " must be a non-negative integer, got '" + text +
                                           "'");
  }
  return v;
}

Result<double> ParseFraction(const std::string& text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return shared::Status::InvalidArgument(
        "FRACTION must be a number above 0 and below 1 (e.g. 0.5), got '" + text + "'");
  }
  return v;
}

// "model prune VERSION FRACTION [hidden|no-hidden]".
Result<PruneRequest> ParsePruneArgs(const std::vector<std::string>& args) {
  PruneRequest r;
  FEDGE_ASSIGN_OR_RETURN(r.version, ParseUint(args[0], "VERSION"));
  FEDGE_ASSIGN_OR_RETURN(r.fraction, ParseFraction(args[1]));
  if (args.size() > 2) {
    if (args[2] != "hidden" && args[2] != "no-hidden") {
      return shared::Status::InvalidArgument(
          "the third argument of model prune must be 'hidden' (prune the hidden linear layer "
          "too, the default) or 'no-hidden', got '" +
          args[2] + "'");
    }
    r.prune_hidden = args[2] == "hidden";
  }
  return r;
}

// The facts `fedgectl models` lists for one version.
json ModelSummary(const ModelRecord& m, uint64_t head) {
  json j = ModelFacts(m);
  j["head"] = m.version == head;
  if (m.metrics.contains("federated_eval") && m.metrics["federated_eval"].contains("accuracy")) {
    j["accuracy"] = m.metrics["federated_eval"]["accuracy"];
  }
  if (m.metrics.contains("train") && m.metrics["train"].contains("loss")) {
    j["train_loss"] = m.metrics["train"]["loss"];
  }
  return j;
}

// What `fedgectl clients` shows of a site's standing under the defence.
json StandingSummary(const SiteStanding& st, const DefenceSettings& d) {
  json j = {{"quarantined", st.quarantined},
            {"flagged_in_window", FlaggedInWindow(st, d.window)},
            {"window", d.window}};
  if (!st.scores.empty()) {
    j["last_round"] = st.scores.back().round;
    j["last_score"] = st.scores.back().score;
    j["last_reasons"] = st.scores.back().reasons;
  }
  if (st.quarantined) {
    j["quarantine_reason"] = st.quarantine_reason;
    j["quarantined_round"] = st.quarantined_round;
  }
  if (st.revoked_round > 0) j["revoked_round"] = st.revoked_round;
  return j;
}

}  // namespace

AdminService::AdminService(Store* store, RoundEngine* engine, const CoordinatorConfig& config,
                           std::function<void(const std::string&)> close_client)
    : store_(store),
      engine_(engine),
      config_(config),
      close_client_(std::move(close_client)),
      started_ms_(shared::UnixMillis()) {}

void AdminService::Handle(AdminCommand c, std::function<void(Result<json>)> respond) {
  FEDGE_LOG(Info, kLog) << c.admin << ": " << c.name
                        << (c.args.empty() ? "" : " " + c.args.front());
  const AdminCommandSpec* spec = FindAdminCommand(c.name);
  if (spec == nullptr) return respond(UnknownAdminCommand(c.name));
  if (spec->needs_releases && (rollouts_ == nullptr || !rollouts_->enabled())) {
    return respond(shared::Status::InvalidArgument(
        "releases are off on this coordinator: set [release] repo in its config to the "
        "release repository (fedgectl release publish) and restart it"));
  }
  if (shared::Status s = CheckAdminArgs(*spec, c.args.size()); !s.ok()) return respond(s);
  switch (spec->id) {
    case AdminCommandId::kModelImport:
      return ImportModel(std::move(c), std::move(respond));
    case AdminCommandId::kModelPrune:
      return PruneModel(std::move(c), std::move(respond));
    case AdminCommandId::kRoundStart:
      return StartRounds(c, std::move(respond));
    case AdminCommandId::kUnquarantine:
      if (shared::Status s = shared::ValidateClientId(c.args[0]); !s.ok()) return respond(s);
      return engine_->ClearQuarantine(c.args[0], c.admin, std::move(respond));
    default:
      return respond(Run(spec->id, c));
  }
}

Result<json> AdminService::Run(AdminCommandId id, const AdminCommand& c) const {
  switch (id) {
    case AdminCommandId::kStatus:
      return Status();
    case AdminCommandId::kClients:
      return Clients();
    case AdminCommandId::kRounds:
      return Rounds();
    case AdminCommandId::kDrift: {
      json drift = engine_->status().drift;
      return drift.is_null() ? json::object() : drift;
    }
    case AdminCommandId::kModels:
      return Models();
    case AdminCommandId::kModelShow:
    case AdminCommandId::kModelExport:
      return ShowModel(c, id == AdminCommandId::kModelExport);
    case AdminCommandId::kModelLineage:
      return ModelLineage(c);
    case AdminCommandId::kModelCompare: {
      FEDGE_ASSIGN_OR_RETURN(uint64_t a, ParseUint(c.args[0], "VERSION_A"));
      FEDGE_ASSIGN_OR_RETURN(uint64_t b, ParseUint(c.args[1], "VERSION_B"));
      return CompareModels(*store_, a, b);
    }
    case AdminCommandId::kRevoke:
      return Revoke(c);
    case AdminCommandId::kReleaseDeploy:
      return Deploy(c);
    case AdminCommandId::kReleasePromote:
      return rollouts_->Promote(c.args.empty() ? "promoted by " + c.admin : Reason(c));
    case AdminCommandId::kReleaseRollback:
      return rollouts_->Rollback(c.args.empty() ? "rolled back by " + c.admin : Reason(c));
    case AdminCommandId::kRollouts:
      return rollouts_->List();
    case AdminCommandId::kModelImport:
    case AdminCommandId::kModelPrune:
    case AdminCommandId::kRoundStart:
    case AdminCommandId::kUnquarantine:
      break;  // answered asynchronously by Handle
  }
  return shared::Status::Internal("admin command '" + c.name + "' has no synchronous handler");
}

std::string AdminService::Reason(const AdminCommand& c) {
  return c.args[0] + " (by " + c.admin + ")";
}

Result<json> AdminService::ShowModel(const AdminCommand& c, bool for_export) const {
  FEDGE_ASSIGN_OR_RETURN(uint64_t v, ParseUint(c.args[0], "VERSION"));
  FEDGE_ASSIGN_OR_RETURN(ModelRecord m, store_->GetModel(v));
  FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> head, store_->Head());
  json j = ToJson(m);
  j["head"] = head && *head == v;
  if (for_export && m.blob_deleted) {
    return shared::Status::NotFound("model version " + std::to_string(v) +
                                    " cannot be exported: its blob was removed by the "
                                    "retention policy (registry.keep_last)");
  }
  return j;
}

Result<json> AdminService::ModelLineage(const AdminCommand& c) const {
  FEDGE_ASSIGN_OR_RETURN(uint64_t v, ParseUint(c.args[0], "VERSION"));
  FEDGE_ASSIGN_OR_RETURN(std::vector<ModelRecord> chain, Lineage(*store_, v));
  FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> head, store_->Head());
  json out = json::array();
  for (const ModelRecord& m : chain) out.push_back(ModelSummary(m, head.value_or(0)));
  return json{{"version", v}, {"lineage", out}};
}

Result<json> AdminService::Deploy(const AdminCommand& c) const {
  double percent = 100;
  if (c.args.size() == 2) {
    char* end = nullptr;
    percent = std::strtod(c.args[1].c_str(), &end);
    if (end == c.args[1].c_str() || *end != '\0') {
      return shared::Status::InvalidArgument("CANARY_PERCENT must be a number, got '" + c.args[1] +
                                             "'");
    }
  }
  return rollouts_->Deploy(c.args[0], percent);
}

void AdminService::ImportModel(AdminCommand c, std::function<void(Result<json>)> respond) {
  // On the engine's strand, so the new version number cannot race a round's commit.
  engine_->Post([this, c = std::move(c), respond = std::move(respond)] {
    Result<ExportedModel> exported = DecodeExport(c.upload);
    if (!exported.ok()) return respond(exported.status().WithContext("model import"));
    Result<ModelRecord> m = coordinator::ImportModel(*store_, *exported);
    if (!m.ok()) return respond(m.status());
    FEDGE_LOG(Info, kLog) << c.admin << " imported model version " << m->version;
    respond(ToJson(*m));
  });
}

void AdminService::PruneModel(AdminCommand c, std::function<void(Result<json>)> respond) {
  Result<PruneRequest> request = ParsePruneArgs(c.args);
  if (!request.ok()) return respond(request.status());
  engine_->PruneHead(*request, [respond, admin = c.admin](Result<ModelRecord> m) {
    if (!m.ok()) return respond(m.status());
    FEDGE_LOG(Info, kLog) << admin << " pruned model version " << *m->parent << " into version "
                          << m->version << " (" << m->arch << ")";
    json j = ToJson(*m);
    j["head"] = true;
    respond(j);
  });
}

void AdminService::StartRounds(const AdminCommand& c, std::function<void(Result<json>)> respond) {
  uint64_t rounds = 1;
  if (!c.args.empty()) {
    Result<uint64_t> r = ParseUint(c.args[0], "ROUNDS");
    if (!r.ok()) return respond(r.status());
    if (*r == 0 || *r > 1000000) {
      return respond(shared::Status::InvalidArgument("ROUNDS must be between 1 and 1000000"));
    }
    rounds = *r;
  }
  engine_->StartRounds(rounds, [respond, rounds](uint64_t target) {
    respond(json{{"requested", rounds}, {"target_round", target}});
  });
}

Result<json> AdminService::Status() const {
  const EngineStatus engine = engine_->status();
  FEDGE_ASSIGN_OR_RETURN(std::vector<ClientRecord> clients, store_->ListClients());
  FEDGE_ASSIGN_OR_RETURN(std::vector<RevocationRecord> revoked, store_->ListRevocations());
  uint64_t now = shared::UnixMillis();
  return json{{"coordinator",
               {{"listen", config_.listen + ":" + std::to_string(config_.port)},
                {"data_dir", config_.data_dir},
                {"started_ms", started_ms_},
                {"uptime_s", (now - started_ms_) / 1000.0},
                {"model_arch", engine.model_arch}}},
              {"engine", ToJson(engine)},
              {"clients_registered", clients.size()},
              {"clients_connected", engine.connected.size()},
              {"clients_revoked", revoked.size()}};
}

Result<json> AdminService::Clients() const {
  FEDGE_ASSIGN_OR_RETURN(std::vector<ClientRecord> clients, store_->ListClients());
  const EngineStatus engine = engine_->status();
  const std::set<std::string> connected(engine.connected.begin(), engine.connected.end());
  const json no_clients = json::array();
  const json& drift_clients =
      engine.drift.contains("clients") ? engine.drift.at("clients") : no_clients;
  json out = json::array();
  for (const ClientRecord& c : clients) {
    json j = ToJson(c);
    j["connected"] = connected.count(c.id) > 0;
    FEDGE_ASSIGN_OR_RETURN(std::optional<RevocationRecord> r, store_->GetRevocation(c.id));
    j["revoked"] = r.has_value();
    FEDGE_ASSIGN_OR_RETURN(std::optional<SiteStanding> st, store_->GetStanding(c.id));
    if (st) j["standing"] = StandingSummary(*st, config_.defence);
    for (const json& d : drift_clients) {
      if (d.contains("client") && d["client"] == c.id) j["drift"] = d;
    }
    out.push_back(std::move(j));
  }
  return json{{"clients", out}};
}

Result<json> AdminService::Rounds() const {
  FEDGE_ASSIGN_OR_RETURN(std::vector<json> rounds, store_->ListRounds());
  return json{{"rounds", rounds}, {"open_round", ToJson(engine_->status()).at("open_round")}};
}

Result<json> AdminService::Models() const {
  FEDGE_ASSIGN_OR_RETURN(std::vector<ModelRecord> models, store_->ListModels());
  FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> head, store_->Head());
  json out = json::array();
  for (const ModelRecord& m : models) out.push_back(ModelSummary(m, head.value_or(0)));
  return json{{"head", head ? json(*head) : json(nullptr)}, {"models", out}};
}

Result<json> AdminService::Revoke(const AdminCommand& c) const {
  const std::string& id = c.args[0];
  FEDGE_RETURN_IF_ERROR(shared::ValidateClientId(id));
  FEDGE_ASSIGN_OR_RETURN(std::optional<ClientRecord> client, store_->GetClient(id));
  RevocationRecord r;
  r.client_id = id;
  r.fingerprint = client ? client->fingerprint : "";
  r.reason = c.args.size() > 1 ? c.args[1] : "";
  r.revoked_by = c.admin;
  r.revoked_ms = shared::UnixMillis();
  FEDGE_ASSIGN_OR_RETURN(std::optional<RevocationRecord> earlier, store_->GetRevocation(id));
  if (!earlier) FEDGE_RETURN_IF_ERROR(store_->PutRevocation(r));
  close_client_(id);  // durable first, then the open session goes
  FEDGE_LOG(Warn, kLog) << c.admin << " revoked the certificate of " << id;
  json j = ToJson(earlier ? *earlier : r);
  j["already_revoked"] = earlier.has_value();
  j["known_client"] = client.has_value();
  return j;
}

}  // namespace fedge::coordinator
