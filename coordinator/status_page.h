#pragma once
// The coordinator's read-only status page over HTTPS ([status] in coordinator.toml):
//   GET /             one server-rendered HTML page (inline CSS and SVG, no script, nothing
//                     fetched; Content-Security-Policy: default-src 'none'; style-src
//                     'unsafe-inline'; img-src data:), refreshing itself every 10 s;
//   GET /status.json  the same data as JSON (StatusData's layout below).
//
// Who may read it (StatusAuth): a client certificate of the project CA whose role (OU) is
// "admin" and whose CN is not revoked, or the read-only token of status.token_file sent as
// `Authorization: Bearer <token>`, as the cookie `fedge_status` or, for browsers that cannot
// send a header, once as `?token=<token>`: that request is answered with a redirect to the same
// path without the query, setting the cookie (Secure; HttpOnly; SameSite=Strict). Tokens are
// compared in constant time. Anything else gets 401 with a page saying how to authenticate and
// no data; a certificate of another role or a revoked one is refused even with a valid token.
//
// Page sections and the ids tests rely on:
//   #summary   table#summary-table: td#model-version, td#model-round, td#connected-clients,
//              td#registered-clients, td#open-round
//   #clients   table#clients, tr.client[data-client=ID] (id, connected, last seen, drift score,
//              drifted, streak, top feature); or p#no-clients
//   #rounds    table#rounds, tr.round (the newest kMaxRounds: round, version, accuracy, loss,
//              updates, duration); or p#no-rounds
//   #models    svg#chart-model-accuracy: one point per model version with a federated
//              accuracy (x = version), data-points = their number; the head is flagged
//   #drift     table#campaigns, tr.campaign; or p#no-campaigns
//   #releases  table#releases, tr.release[data-release=VERSION]; or p#no-releases

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "coordinator/store.h"
#include "shared/base/status.h"
#include "shared/net/http_server.h"

namespace fedge::coordinator {

class RoundEngine;

// Rounds listed on the page and in /status.json (the newest).
inline constexpr size_t kMaxRounds = 20;

// The JSON behind the page, gathered from the engine's status() (thread-safe) and the store
// (thread-safe reads); nothing runs on the engine's strand. Layout:
//   "generated_ms"
//   "coordinator": {"model_version", "model_round", "model_arch", "target_round",
//                   "finished", "connected_clients", "registered_clients",
//                   "open_round" (the engine's, or null)}
//   "clients":  [{"id", "connected", "revoked", "first_seen_ms", "last_seen_ms",
//                 "updates_accepted", "drift": {"score", "drifted", "streak",
//                 "top_feature", "last_report_ms", "model_version"} or null}]
//   "rounds":   [{"round", "model_version", "accuracy", "loss", "train_loss", "updates",
//                 "sampled", "seconds", "ended_ms"}]   newest first, at most kMaxRounds
//   "models":   [{"version", "round", "origin", "head", "accuracy" (or null),
//                 "created_ms"}]                        ascending versions
//   "campaigns": the drift policy's campaigns (coordinator/drift_policy.h ToJson(Campaign))
//   "releases": whatever StatusSources::releases returns (an array), else []
struct StatusSources {
  // The release pipeline's releases and rollouts, newest first, each an object with (all
  // optional) "version", "model_version", "stage", "state", "cohort", "installed", "failed",
  // "updated_ms". Unset: no release pipeline, "releases" is []. Called on the HTTP thread:
  // must be thread-safe and quick.
  std::function<shared::Result<nlohmann::json>()> releases;
};
shared::Result<nlohmann::json> GatherStatus(Store& store, const RoundEngine& engine,
                                            const StatusSources& sources);

// The page for `status` (GatherStatus's layout; missing or mistyped fields show as "-", never
// throw). Every string from `status` is HTML-escaped.
std::string RenderStatusPage(const nlohmann::json& status);

// Who may read the page. Thread-safe (immutable after construction).
class StatusAuth {
 public:
  // `token`: the read-only token, or empty for certificates only. `revoked(cn)`: whether the
  // certificate of `cn` was revoked (the coordinator's revocation list); an error refuses.
  StatusAuth(std::string token, std::function<shared::Result<bool>(const std::string&)> revoked);

  struct Decision {
    bool allowed = false;
    std::string who;              // "admin <cn>" or "token", for the log
    std::string reason;           // why not, for the 401 page
    bool token_in_query = false;  // allowed by ?token=: redirect to set the cookie
  };
  Decision Check(const shared::HttpRequest& request) const;

 private:
  bool TokenMatches(std::string_view candidate) const;

  bool has_token_;
  std::array<uint8_t, 32> token_digest_{};  // SHA-256 of the token
  std::function<shared::Result<bool>(const std::string&)> revoked_;
};

// The 401 answer: a short page (or one line for /status.json) saying how to authenticate,
// with WWW-Authenticate: Bearer.
shared::HttpResponse StatusUnauthorized(const shared::HttpRequest& request,
                                        const std::string& reason);

// A router serving / and /status.json behind `auth`; `gather` produces the data per request.
std::shared_ptr<shared::HttpRouter> MakeStatusRouter(
    std::shared_ptr<const StatusAuth> auth, std::function<shared::Result<nlohmann::json>()> gather);

}  // namespace fedge::coordinator
