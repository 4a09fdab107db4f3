// The status page's data (GatherStatus), its access control (StatusAuth) and its routes.
#include "coordinator/status_page.h"

#include <openssl/crypto.h>

#include <map>
#include <set>
#include <string_view>

#include "coordinator/round_engine.h"
#include "shared/base/log.h"
#include "shared/crypto/crypto.h"
#include "shared/net/wire.h"
#include "shared/observability/html_chart.h"

namespace fedge::coordinator {

using nlohmann::json;
using shared::Result;

namespace {

constexpr const char* kLog = "status";
constexpr const char* kCookie = "fedge_status";

const json& Field(const json& j, const char* key) {
  static const json kNull;
  return j.is_object() && j.contains(key) ? j[key] : kNull;
}

json ClientDriftFields(const json& d) {
  json out = json::object();
  for (const char* k :
       {"score", "drifted", "streak", "top_feature", "last_report_ms", "model_version"}) {
    out[k] = Field(d, k);
  }
  return out;
}

json RoundRow(const json& r) {
  const json& eval = Field(r, "evaluation");
  return {{"round", Field(r, "round")},           {"model_version", Field(r, "model_version")},
          {"accuracy", Field(eval, "accuracy")},  {"loss", Field(eval, "loss")},
          {"train_loss", Field(r, "train_loss")}, {"updates", Field(r, "updates")},
          {"sampled", Field(r, "sampled")},       {"seconds", Field(r, "seconds")},
          {"ended_ms", Field(r, "ended_ms")}};
}

// The value of `name` in a Cookie header ("a=1; b=2"), or empty.
std::string CookieValue(const std::string& header, std::string_view name) {
  std::string_view rest(header);
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    std::string_view pair = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
  }
  return "";
}

// The value of `token` in a query string ("token=...&x=y"), if present (not percent-decoded:
// tokens are URL-safe characters).
std::optional<std::string> QueryToken(const std::string& query) {
  std::string_view rest(query);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.substr(0, 6) == "token=") return std::string(pair.substr(6));
  }
  return std::nullopt;
}

shared::HttpResponse Secured(shared::HttpResponse r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

Result<json> GatherStatus(Store& store, const RoundEngine& engine, const StatusSources& sources) {
  const EngineStatus status = engine.status();
  FEDGE_ASSIGN_OR_RETURN(std::vector<ClientRecord> clients, store.ListClients());
  FEDGE_ASSIGN_OR_RETURN(std::vector<RevocationRecord> revocations, store.ListRevocations());
  FEDGE_ASSIGN_OR_RETURN(std::vector<json> rounds, store.ListRounds());
  FEDGE_ASSIGN_OR_RETURN(std::vector<ModelRecord> models, store.ListModels());
  FEDGE_ASSIGN_OR_RETURN(std::optional<uint64_t> head, store.Head());

  std::set<std::string> connected, revoked, quarantined;
  connected.insert(status.connected.begin(), status.connected.end());
  quarantined.insert(status.quarantined.begin(), status.quarantined.end());
  for (const RevocationRecord& r : revocations) revoked.insert(r.client_id);
  std::map<std::string, json> drift;
  for (const json& d : Field(status.drift, "clients")) {
    if (Field(d, "client").is_string()) drift[d["client"].get<std::string>()] = d;
  }

  json out;
  out["generated_ms"] = shared::UnixMillis();
  out["coordinator"] = {{"model_version", status.model_version},
                        {"model_round", status.model_round},
                        {"model_arch", status.model_arch},
                        {"target_round", status.target_round},
                        {"finished", status.finished},
                        {"connected_clients", connected.size()},
                        {"registered_clients", clients.size()},
                        {"open_round", status.open_round ? ToJson(*status.open_round) : json()}};
  json client_rows = json::array();
  for (const ClientRecord& c : clients) {
    auto d = drift.find(c.id);
    client_rows.push_back({{"id", c.id},
                           {"connected", connected.count(c.id) > 0},
                           {"revoked", revoked.count(c.id) > 0},
                           {"quarantined", quarantined.count(c.id) > 0},
                           {"first_seen_ms", c.first_seen_ms},
                           {"last_seen_ms", c.last_seen_ms},
                           {"updates_accepted", c.updates_accepted},
                           {"drift", d == drift.end() ? json() : ClientDriftFields(d->second)}});
  }
  out["clients"] = std::move(client_rows);
  json round_rows = json::array();
  for (size_t i = rounds.size(); i > 0 && round_rows.size() < kMaxRounds; --i) {
    round_rows.push_back(RoundRow(rounds[i - 1]));
  }
  out["rounds"] = std::move(round_rows);
  json model_rows = json::array();
  for (const ModelRecord& m : models) {
    const json& accuracy = Field(Field(m.metrics, "federated_eval"), "accuracy");
    model_rows.push_back({{"version", m.version},
                          {"round", m.round},
                          {"origin", m.origin},
                          {"head", head && *head == m.version},
                          {"accuracy", accuracy.is_number() ? accuracy : json()},
                          {"created_ms", m.created_ms}});
  }
  out["models"] = std::move(model_rows);
  const json& campaigns = Field(status.drift, "campaigns");
  out["campaigns"] = campaigns.is_array() ? campaigns : json::array();
  out["releases"] = json::array();
  if (sources.releases) {
    FEDGE_ASSIGN_OR_RETURN(json releases, sources.releases());
    if (releases.is_array()) out["releases"] = std::move(releases);
  }
  return out;
}

StatusAuth::StatusAuth(std::string token, std::function<Result<bool>(const std::string&)> revoked)
    : has_token_(!token.empty()), revoked_(std::move(revoked)) {
  if (has_token_) {
    token_digest_ = shared::Sha256(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(token.data()), token.size()));
  }
}

bool StatusAuth::TokenMatches(std::string_view candidate) const {
  if (!has_token_ || candidate.empty()) return false;
  // Digests have a fixed length, so neither the comparison's time nor its length depends on
  // how much of the token a guess got right.
  const shared::Digest d = shared::Sha256(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(candidate.data()), candidate.size()));
  return CRYPTO_memcmp(d.data(), token_digest_.data(), d.size()) == 0;
}

StatusAuth::Decision StatusAuth::Check(const shared::HttpRequest& request) const {
  Decision d;
  if (!request.peer_error.empty()) {
    d.reason = "your client certificate cannot be used: " + request.peer_error;
    return d;
  }
  if (request.peer) {
    const shared::PeerIdentity& p = *request.peer;
    if (p.role != shared::kRoleAdmin) {
      d.reason = "a certificate of role '" + p.role + "' may not read the status page; use an " +
                 "admin certificate or the read-only token";
      return d;
    }
    Result<bool> revoked = revoked_(p.common_name);
    if (!revoked.ok() || *revoked) {
      d.reason = revoked.ok() ? "the certificate of " + p.common_name + " was revoked"
                              : "cannot check the revocation list";
      return d;
    }
    d.allowed = true;
    d.who = "admin " + p.common_name;
    return d;
  }
  const std::string auth = request.Header("authorization");
  if (!auth.empty()) {
    if (auth.size() > 7 && auth.compare(0, 7, "Bearer ") == 0 &&
        TokenMatches(std::string_view(auth).substr(7))) {
      d.allowed = true;
      d.who = "token";
    } else {
      d.reason = "the bearer token is not valid";
    }
    return d;
  }
  if (std::optional<std::string> q = QueryToken(request.query)) {
    d.allowed = TokenMatches(*q);
    d.token_in_query = d.allowed;
    d.who = "token";
    if (!d.allowed) d.reason = "the token is not valid";
    return d;
  }
  const std::string cookie = CookieValue(request.Header("cookie"), kCookie);
  if (!cookie.empty()) {
    d.allowed = TokenMatches(cookie);
    d.who = "token";
    if (!d.allowed) d.reason = "the token of your session is not valid (any more)";
    return d;
  }
  d.reason = "no credentials";
  return d;
}

shared::HttpResponse StatusUnauthorized(const shared::HttpRequest& request,
                                        const std::string& reason) {
  shared::HttpResponse r;
  r.status = 401;
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"fedge status\"");
  if (request.path == "/status.json") {
    r.content_type = "application/json";
    r.body = json{{"error", "unauthorized: " + reason},
                  {"how",
                   "send 'Authorization: Bearer TOKEN' with the token of "
                   "status.token_file, or use an admin certificate of the project CA"}}
                 .dump() +
             "\n";
    return Secured(std::move(r));
  }
  r.content_type = "text/html; charset=utf-8";
  r.body =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fedge "
      "coordinator: sign in</title></head><body><h1>Not signed in</h1><p id=\"unauthorized\">" +
      shared::html::Escape(reason) +
      ".</p><p>This page is for the project's central team. Open it with an admin certificate "
      "of the project CA (from an admin startup kit), or with the read-only token of "
      "<code>status.token_file</code>: send <code>Authorization: Bearer TOKEN</code>, or open "
      "<code>/?token=TOKEN</code> once in a browser (it sets a session cookie and drops the "
      "token from the address).</p></body></html>\n";
  return Secured(std::move(r));
}

std::shared_ptr<shared::HttpRouter> MakeStatusRouter(std::shared_ptr<const StatusAuth> auth,
                                                     std::function<Result<json>()> gather) {
  auto router = std::make_shared<shared::HttpRouter>();
  auto serve = [auth, gather](const shared::HttpRequest& request, bool page) {
    const StatusAuth::Decision d = auth->Check(request);
    if (!d.allowed) {
      FEDGE_LOG(Info, kLog) << "refused " << request.method << " " << request.path << ": "
                            << d.reason;
      return StatusUnauthorized(request, d.reason);
    }
    if (d.token_in_query) {
      // Move the token out of the address bar (and history) into a cookie.
      shared::HttpResponse r;
      r.status = 303;
      r.body = "see " + request.path + "\n";
      r.headers.emplace_back("Location", request.path);
      r.headers.emplace_back("Set-Cookie", std::string(kCookie) + "=" + *QueryToken(request.query) +
                                               "; Path=/; Secure; HttpOnly; SameSite=Strict");
      return Secured(std::move(r));
    }
    Result<json> status = gather();
    if (!status.ok()) {
      FEDGE_LOG(Warn, kLog) << "cannot gather the status: " << status.status().ToString();
      return Secured(shared::HttpError(500, "cannot gather the status; see the coordinator log"));
    }
    shared::HttpResponse r;
    if (page) {
      r.content_type = "text/html; charset=utf-8";
      r.body = RenderStatusPage(*status);
    } else {
      r.content_type = "application/json";
      r.body = status->dump(2) + "\n";
    }
    return Secured(std::move(r));
  };
  router->Get("/", [serve](const shared::HttpRequest& r) { return serve(r, true); });
  router->Get("/status.json", [serve](const shared::HttpRequest& r) { return serve(r, false); });
  return router;
}

}  // namespace fedge::coordinator
