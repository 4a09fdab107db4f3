#include "coordinator/release_cli.h"

#include <array>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "coordinator/registry.h"
#include "coordinator/release_create.h"
#include "coordinator/release_gate.h"
#include "coordinator/release_tools.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"
#include "shared/ml/data/dataset.h"
#include "shared/release/verify.h"

namespace fedge::coordinator {

namespace rel = shared::release;
using shared::Result;
using shared::Status;

namespace {

std::string Day(int64_t unix_s) {
  std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string Millis(uint64_t ms) { return ms == 0 ? "-" : Day(static_cast<int64_t>(ms / 1000)); }

// One rollout: a summary line, its reports by result and its steps.
void PrintRollout(const nlohmann::json& r, bool json) {
  if (json) {
    std::cout << r.dump(2) << "\n";
    return;
  }
  int installed = 0, failed = 0, reverted = 0;
  for (const auto& [client, report] : r["reports"].items()) {
    if (report.value("reverted", false)) {
      ++reverted;
    } else if (report.value("installed", false)) {
      ++installed;
    } else {
      ++failed;
    }
  }
  std::printf(
      "rollout %llu: %s (counter %llu, %s) %s; canary %g%% (%zu clients); reports: %d "
      "installed, %d failed, %d reverted\n",
      static_cast<unsigned long long>(r["id"].get<uint64_t>()),
      r["target"].get<std::string>().c_str(),
      static_cast<unsigned long long>(r["counter"].get<uint64_t>()),
      r["arch"].get<std::string>().c_str(), r["state"].get<std::string>().c_str(),
      r["canary_percent"].get<double>(), r["cohort"].size(), installed, failed, reverted);
  for (const nlohmann::json& step : r["steps"]) {
    std::printf("  %s UTC  %-13s %s\n", Millis(step["ms"].get<uint64_t>()).c_str(),
                step["action"].get<std::string>().c_str(),
                step["detail"].get<std::string>().c_str());
  }
  for (const auto& [client, report] : r["reports"].items()) {
    if (report.value("installed", false) || report.value("reverted", false)) continue;
    std::printf("  %s failed: %s\n", client.c_str(), report.value("error", "").c_str());
  }
}

// Fetches registry version `version` (record + weights) over the admin connection.
Result<ExportedModel> FetchModel(const AdminConnectOptions& connect, uint64_t version) {
  if (connect.kit_dir.empty()) {
    return Status::InvalidArgument(
        "--from VERSION talks to the coordinator: pass --kit ADMIN_KIT_DIR, or use "
        "--from-export FILE (a `fedgectl model export` file)");
  }
  FEDGE_ASSIGN_OR_RETURN(auto client, AdminClient::Connect(connect));
  FEDGE_ASSIGN_OR_RETURN(nlohmann::json j,
                         client->Call(AdminCommandId::kModelExport, {std::to_string(version)}));
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                         shared::DigestFromHex(j["digest"].get<std::string>()));
  ExportedModel m;
  FEDGE_ASSIGN_OR_RETURN(m.blob, client->FetchBlob(digest, nullptr));
  FEDGE_ASSIGN_OR_RETURN(m.record, ModelRecordFromJson(j));
  return m;
}

// The fp32 state and arch of --against: a registry version (digits), an artifact (.fdga) or
// a `model export` file.
Result<std::pair<std::string, shared::TensorBundle>> LoadReference(
    const AdminConnectOptions& connect, const std::string& against) {
  if (!against.empty() && against.find_first_not_of("0123456789") == std::string::npos) {
    FEDGE_ASSIGN_OR_RETURN(ExportedModel m, FetchModel(connect, std::stoull(against)));
    FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle s, shared::DecodeBundle(m.blob));
    return std::make_pair(m.record.arch, std::move(s));
  }
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(against, 1u << 30));
  if (Result<ml::Artifact> a = ml::DecodeArtifact(bytes); a.ok()) {
    FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle s, ml::ArtifactState(*a));
    return std::make_pair(a->arch, std::move(s));
  }
  FEDGE_ASSIGN_OR_RETURN(ExportedModel m, DecodeExport(bytes));
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle s, shared::DecodeBundle(m.blob));
  return std::make_pair(m.record.arch, std::move(s));
}

struct CreateArgs {
  uint64_t from = 0;
  std::string from_export, repo, out, against, data_dir = "/usr/share/datasets/fashion-mnist";
  std::string quantize = "fp32", drift_profile;
  BuildOptions build;
  bool no_prune_hidden = false, no_gate = false, publish = false;
  double gate_max_drop = 1.0;
  int64_t val_examples = 2000;
};

// The model --from VERSION (over the admin connection) or --from-export FILE names.
Result<ExportedModel> LoadSource(const AdminConnectOptions& connect, const CreateArgs& a) {
  if ((a.from == 0) == a.from_export.empty()) {
    return Status::InvalidArgument("give exactly one of --from VERSION and --from-export FILE");
  }
  if (a.from_export.empty()) return FetchModel(connect, a.from);
  return ReadExport(a.from_export);
}

// CreateRelease's options from the command line; the gate's reference from --against.
Result<CreateReleaseOptions> CreateOptions(const AdminConnectOptions& connect, CreateArgs a) {
  CreateReleaseOptions o;
  o.build = a.build;
  o.build.quantization = a.quantize == "int8" ? "int8_per_channel" : a.quantize;
  o.build.prune_hidden = !a.no_prune_hidden;
  o.build.now = rel::SystemNow();
  o.repo = a.repo;
  o.out = a.out;
  o.publish = a.publish;
  o.gate.mode = a.no_gate ? GateMode::kSkip : GateMode::kEnforce;
  o.gate.max_drop_points = a.gate_max_drop;
  if (!a.no_gate && !a.against.empty()) {
    FEDGE_ASSIGN_OR_RETURN(auto loaded, LoadReference(connect, a.against));
    o.gate.reference_arch = loaded.first;
    o.gate.reference_state = std::move(loaded.second);
  }
  return o;
}

Status RunCreate(const AdminConnectOptions& connect, const CreateArgs& a) {
  FEDGE_ASSIGN_OR_RETURN(ExportedModel model, LoadSource(connect, a));
  std::vector<uint8_t> profile;
  if (!a.drift_profile.empty()) {
    FEDGE_ASSIGN_OR_RETURN(profile, shared::ReadFile(a.drift_profile, 1u << 20));
  }
  FEDGE_ASSIGN_OR_RETURN(CreateReleaseOptions o, CreateOptions(connect, a));
  FEDGE_ASSIGN_OR_RETURN(
      CreatedRelease r,
      CreateRelease(model, profile, o,
                    EvalProgramAccuracy(EvalProgram(), a.data_dir, a.val_examples)));
  if (a.no_gate) {
    std::cout << "accuracy gate skipped (--no-gate)\n";
  } else {
    std::cout << r.gate_line << "\n";
  }
  if (r.refused) {
    return Status::PermissionDenied(
        "release refused by the accuracy gate (fine-tune the pruned architecture in "
        "federation first, raise --gate-max-drop, or pass --no-gate)");
  }
  std::cout << "wrote " << r.path << ": release counter " << r.counter << ", " << r.arch << ", "
            << r.recipe.quantization << ", " << r.bytes.size() << " bytes, from model "
            << "version " << model.record.version << "\n";
  if (r.published) {
    std::cout << "published " << r.published->name << " into " << a.repo
              << " (unsigned: run `fedgectl release sign` for targets, snapshot, timestamp)\n";
  }
  return Status::Ok();
}

Result<rel::Role> ParseRole(const std::string& name) {
  for (rel::Role r : {rel::Role::kTargets, rel::Role::kSnapshot, rel::Role::kTimestamp}) {
    if (name == rel::RoleName(r)) return r;
  }
  return Status::InvalidArgument(
      "--role must be targets, snapshot or timestamp (root: use "
      "`fedgectl keys sign-root`)");
}

void PrintRotation(const RotateResult& r) {
  std::cout << (r.complete ? "root version " : "root version (pending) ") << r.version << ": "
            << r.file << "\n"
            << r.detail << "\n";
}

void AddKeys(CLI::App& app, std::vector<CliCommand>& commands) {
  CLI::App* keys = app.add_subcommand("keys", "Release signing keys and root metadata (offline)");
  keys->require_subcommand(1);
  auto init = std::make_shared<KeysInitOptions>();
  CLI::App* ci = keys->add_subcommand("init", "Generate role keys and root version 1");
  ci->add_option("--dir", init->key_dir, "Key directory (private keys, mode 0600)")->required();
  ci->add_option("--repo", init->repo, "Repository directory")->required();
  ci->add_option("--root-keys", init->root.keys)->capture_default_str();
  ci->add_option("--root-threshold", init->root.threshold)->capture_default_str();
  ci->add_option("--targets-keys", init->targets.keys)->capture_default_str();
  ci->add_option("--targets-threshold", init->targets.threshold)->capture_default_str();
  ci->add_option("--snapshot-keys", init->snapshot.keys)->capture_default_str();
  ci->add_option("--snapshot-threshold", init->snapshot.threshold)->capture_default_str();
  ci->add_option("--timestamp-keys", init->timestamp.keys)->capture_default_str();
  ci->add_option("--timestamp-threshold", init->timestamp.threshold)->capture_default_str();
  ci->add_option("--expires-days", init->expires_days, "Root lifetime")->capture_default_str();
  commands.push_back({ci, [init] {
                        init->now = rel::SystemNow();
                        Result<rel::RootMetadata> root = InitKeys(*init);
                        if (!root.ok()) return Fail(root.status());
                        std::cout << "root version 1 (" << root->root.threshold << " of "
                                  << root->root.key_ids.size() << " root keys signed) in "
                                  << RepoMetadataPath(init->repo, "1.root.json")
                                  << "; private keys in " << init->key_dir
                                  << " (mode 0600: keep them offline, give each holder theirs)\n"
                                  << "give clients " << RepoMetadataPath(init->repo, "1.root.json")
                                  << " as [update] root\n";
                        return 0;
                      }});
  auto rot = std::make_shared<RotateOptions>();
  CLI::App* cr = keys->add_subcommand("rotate", "Make root N+1 (replacing roles' keys)");
  cr->add_option("--dir", rot->key_dir, "Key directory")->required();
  cr->add_option("--repo", rot->repo, "Repository directory")->required();
  cr->add_option("--replace-role", rot->replace_roles, "Role whose keys are replaced; repeatable");
  cr->add_option("--expires-days", rot->expires_days)->capture_default_str();
  commands.push_back({cr, [rot] {
                        rot->now = rel::SystemNow();
                        Result<RotateResult> r = RotateKeys(*rot);
                        if (!r.ok()) return Fail(r.status());
                        PrintRotation(*r);
                        return r->complete ? 0 : 1;
                      }});
  auto sr = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* cs =
      keys->add_subcommand("sign-root", "Add your root signatures to a pending rotation");
  cs->add_option("--dir", sr->first, "Key directory")->required();
  cs->add_option("--repo", sr->second, "Repository directory")->required();
  commands.push_back({cs, [sr] {
                        Result<RotateResult> r = SignPendingRoot(sr->second, sr->first);
                        if (!r.ok()) return Fail(r.status());
                        PrintRotation(*r);
                        return r->complete ? 0 : 1;
                      }});
}

// Options of the staged-rollout commands (deploy, promote, rollback, rollouts).
struct DeployArgs {
  std::string target;
  double canary = 100;
  std::string reason;
  bool json = false;
};
using Commands = std::vector<CliCommand>;
using Connect = std::shared_ptr<const AdminConnectOptions>;

void AddCreate(CLI::App* release, Commands& commands, Connect connect) {
  auto c = std::make_shared<CreateArgs>();
  CLI::App* cc = release->add_subcommand("create", "Build a release artifact from a model version");
  cc->add_option("--from", c->from, "Registry model version (over the admin connection)");
  cc->add_option("--from-export", c->from_export, "Or a `fedgectl model export` file");
  cc->add_option("--prune", c->build.prune_fraction, "Fraction of channels removed (L1)");
  cc->add_flag("--no-prune-hidden", c->no_prune_hidden, "Keep the hidden linear layer's units");
  cc->add_option("--quantize", c->quantize, "fp32, int8 (= int8_per_channel), int8_per_tensor")
      ->capture_default_str();
  cc->add_option("--repo", c->repo, "Repository (the counter follows its highest)")->required();
  cc->add_option("--out", c->out, "Artifact file to write")->required();
  cc->add_option("--model-id", c->build.model_id)->capture_default_str();
  cc->add_option("--min-client-version", c->build.min_client_version)->capture_default_str();
  cc->add_option("--drift-profile", c->drift_profile, "Reference drift profile file to embed");
  cc->add_option("--against", c->against,
                 "Gate reference: registry VERSION, artifact or export file (default: --from)");
  cc->add_option("--gate-max-drop", c->gate_max_drop, "Largest accuracy drop in points")
      ->capture_default_str();
  cc->add_flag("--no-gate", c->no_gate, "Skip the accuracy gate");
  cc->add_option("--data-dir", c->data_dir, "Fashion-MNIST dir (test split validates)")
      ->capture_default_str();
  cc->add_option("--val-examples", c->val_examples, "Validation examples (0: all)")
      ->capture_default_str();
  cc->add_flag("--publish", c->publish, "Also run `release publish` on the result");
  commands.push_back({cc, [c, connect] { return Done(RunCreate(*connect, *c)); }});
}

void AddPublish(CLI::App* release, Commands& commands) {
  auto p = std::make_shared<PublishOptions>();
  CLI::App* cp = release->add_subcommand("publish", "Add an artifact to the repository (unsigned)");
  cp->add_option("--repo", p->repo)->required();
  cp->add_option("--artifact", p->artifact_path)->required();
  cp->add_option("--targets-days", p->targets_expires_days)->capture_default_str();
  cp->add_option("--snapshot-days", p->snapshot_expires_days)->capture_default_str();
  cp->add_option("--timestamp-hours", p->timestamp_expires_hours)->capture_default_str();
  commands.push_back({cp, [p] {
                        p->now = rel::SystemNow();
                        Result<rel::TargetInfo> t = Publish(*p);
                        if (!t.ok()) return Fail(t.status());
                        std::cout << "published " << t->name << " (counter " << t->release_counter
                                  << ", " << t->length << " bytes); now sign targets, snapshot "
                                  << "and timestamp with `fedgectl release sign`\n";
                        return 0;
                      }});
}

void AddWithdraw(CLI::App* release, Commands& commands) {
  auto p = std::make_shared<std::pair<PublishOptions, std::string>>();
  CLI::App* cw = release->add_subcommand(
      "withdraw", "Remove a release from the signed targets (unsigned until you sign)");
  cw->add_option("--repo", p->first.repo)->required();
  cw->add_option("target", p->second, "Target name, e.g. fedge-3.fdga")->required();
  cw->add_option("--targets-days", p->first.targets_expires_days)->capture_default_str();
  cw->add_option("--snapshot-days", p->first.snapshot_expires_days)->capture_default_str();
  cw->add_option("--timestamp-hours", p->first.timestamp_expires_hours)->capture_default_str();
  commands.push_back({cw, [p] {
                        p->first.now = rel::SystemNow();
                        if (Status s = Withdraw(p->first, p->second); !s.ok()) return Fail(s);
                        std::cout << "withdrew " << p->second << "; now sign targets, snapshot "
                                  << "and timestamp with `fedgectl release sign`\n";
                        return 0;
                      }});
}

void AddSign(CLI::App* release, Commands& commands) {
  auto s = std::make_shared<std::array<std::string, 3>>();
  CLI::App* cs = release->add_subcommand("sign", "Sign a role's metadata with your keys");
  cs->add_option("--repo", (*s)[0])->required();
  cs->add_option("--keys", (*s)[1], "Key directory")->required();
  cs->add_option("--role", (*s)[2], "targets, snapshot or timestamp")->required();
  commands.push_back({cs, [s] {
                        Result<rel::Role> role = ParseRole((*s)[2]);
                        if (!role.ok()) return Fail(role.status());
                        Result<std::string> r = SignRole((*s)[0], (*s)[1], *role);
                        if (!r.ok()) return Fail(r.status());
                        std::cout << *r << "\n";
                        return 0;
                      }});
}

void AddTimestamp(CLI::App* release, Commands& commands) {
  auto t = std::make_shared<std::pair<std::string, int64_t>>("", 24);
  CLI::App* ct = release->add_subcommand("timestamp", "Re-make the timestamp (then sign it)");
  ct->add_option("--repo", t->first)->required();
  ct->add_option("--hours", t->second)->capture_default_str();
  commands.push_back(
      {ct, [t] { return Done(RefreshTimestamp(t->first, t->second, rel::SystemNow())); }});
}

// Staged rollout, over the admin connection (coordinator/rollout.h).
void AddDeploy(CLI::App* release, Commands& commands, Connect connect,
               std::shared_ptr<DeployArgs> d) {
  CLI::App* cd = release->add_subcommand(
      "deploy", std::string(AdminCommandInfo(AdminCommandId::kReleaseDeploy).help));
  cd->add_option("TARGET", d->target, "Target name or release counter (see `releases`)")
      ->required();
  cd->add_option("--canary", d->canary,
                 "Percent of the clients that get it first (100: every client at once)")
      ->capture_default_str();
  cd->add_flag("--json", d->json, "Print the coordinator's JSON answer");
  commands.push_back({cd, [d, connect] {
                        return Done(WithAdmin(*connect, [&](AdminClient& c) -> Status {
                          char pct[32];
                          std::snprintf(pct, sizeof(pct), "%g", d->canary);
                          FEDGE_ASSIGN_OR_RETURN(
                              nlohmann::json j,
                              c.Call(AdminCommandId::kReleaseDeploy, {d->target, pct}));
                          PrintRollout(j, d->json);
                          return Status::Ok();
                        }));
                      }});
}

void AddDecisions(CLI::App* release, Commands& commands, Connect connect,
                  std::shared_ptr<DeployArgs> d) {
  for (const char* verb : {"promote", "rollback"}) {
    const std::string name = verb;
    const AdminCommandSpec& spec = AdminCommandInfo(
        name == "promote" ? AdminCommandId::kReleasePromote : AdminCommandId::kReleaseRollback);
    CLI::App* cmd = release->add_subcommand(name, std::string(spec.help));
    cmd->add_option("--reason", d->reason, "Recorded with the step");
    cmd->add_flag("--json", d->json, "Print the coordinator's JSON answer");
    commands.push_back({cmd, [d, connect, name] {
                          return Done(WithAdmin(*connect, [&](AdminClient& c) -> Status {
                            std::vector<std::string> args;
                            if (!d->reason.empty()) args.push_back(d->reason);
                            FEDGE_ASSIGN_OR_RETURN(
                                nlohmann::json j,
                                c.Call(name == "promote" ? AdminCommandId::kReleasePromote
                                                         : AdminCommandId::kReleaseRollback,
                                       args));
                            PrintRollout(j, d->json);
                            return Status::Ok();
                          }));
                        }});
  }
}

void AddRollouts(CLI::App& app, Commands& commands, Connect connect,
                 std::shared_ptr<DeployArgs> d) {
  CLI::App* co =
      app.add_subcommand("rollouts", std::string(AdminCommandInfo(AdminCommandId::kRollouts).help));
  co->add_flag("--json", d->json, "Print the coordinator's JSON answer");
  commands.push_back(
      {co, [d, connect] {
         return Done(WithAdmin(*connect, [&](AdminClient& c) -> Status {
           FEDGE_ASSIGN_OR_RETURN(nlohmann::json j, c.Call(AdminCommandId::kRollouts));
           if (d->json) {
             std::cout << j.dump(2) << "\n";
             return Status::Ok();
           }
           const nlohmann::json& fleet = j["fleet"];
           std::cout << "fleet release: "
                     << (fleet.is_null() ? std::string("none") : fleet["target"].get<std::string>())
                     << "\n";
           for (const nlohmann::json& r : j["rollouts"]) PrintRollout(r, false);
           return Status::Ok();
         }));
       }});
}

void AddReleases(CLI::App& app, Commands& commands) {
  auto repo = std::make_shared<std::string>();
  CLI::App* cl = app.add_subcommand("releases", "Releases in a repository and signature state");
  cl->add_option("--repo", *repo)->required();
  commands.push_back(
      {cl, [repo] {
         Result<RepoSummary> r = SummarizeRepo(*repo);
         if (!r.ok()) return Fail(r.status());
         std::printf("%-8s %-24s %10s %-36s %-32s %s\n", "COUNTER", "NAME", "BYTES", "ARCH",
                     "RECIPE", "FROM VERSION");
         for (const ReleaseRow& row : r->releases) {
           std::printf("%-8llu %-24s %10llu %-36s %-32s %llu\n",
                       static_cast<unsigned long long>(row.counter), row.name.c_str(),
                       static_cast<unsigned long long>(row.length), row.arch.c_str(),
                       row.recipe.c_str(), static_cast<unsigned long long>(row.registry_version));
         }
         for (const auto& role : r->roles) {
           std::printf(
               "%-10s version %llu, signatures %u/%u%s, expires %s UTC\n", role.role.c_str(),
               static_cast<unsigned long long>(role.version), role.signed_by, role.threshold,
               role.signed_by >= role.threshold ? "" : " (NOT ENOUGH)", Day(role.expires).c_str());
         }
         return 0;
       }});
}

void AddRelease(CLI::App& app, Commands& commands, Connect connect) {
  CLI::App* release = app.add_subcommand("release", "Build, publish and sign model releases");
  release->require_subcommand(1);
  AddCreate(release, commands, connect);
  AddPublish(release, commands);
  AddWithdraw(release, commands);
  AddSign(release, commands);
  AddTimestamp(release, commands);
  auto d = std::make_shared<DeployArgs>();
  AddDeploy(release, commands, connect, d);
  AddDecisions(release, commands, connect, d);
  AddRollouts(app, commands, connect, d);
  AddReleases(app, commands);
}

}  // namespace

void AddReleaseCommands(CLI::App& app, std::vector<CliCommand>& commands,
                        std::shared_ptr<const AdminConnectOptions> connect) {
  AddKeys(app, commands);
  AddRelease(app, commands, std::move(connect));
}

}  // namespace fedge::coordinator
