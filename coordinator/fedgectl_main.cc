// fedgectl: the central team's admin tool. Each subcommand registers its flags and an action;
// main parses, runs the chosen action and maps errors to exit codes (1 failure, 2 usage).
// `provision` works offline; every other command talks to the coordinator over mutual TLS
// with an admin startup kit (--kit).

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/admin_client.h"
#include "coordinator/registry.h"
#include "coordinator/release_cli.h"
#include "shared/crypto.h"
#include "shared/pki.h"
#include "shared/progress.h"
#include "shared/status.h"

namespace {

using fedge::shared::Code;
using fedge::shared::ProvisionOptions;
using fedge::shared::ProvisionResult;
using fedge::shared::Status;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Command {
  CLI::App* app;             // owned by the top-level CLI::App
  std::function<int()> run;  // called if this subcommand was chosen
};

int Fail(const Status& status) {
  std::cerr << "fedgectl: " << status.message() << "\n";
  return status.code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
}

void PrintProvisioned(const ProvisionOptions& options, const ProvisionResult& r) {
  std::cout << "Provisioned project \"" << options.project << "\" in " << options.out_dir << ":\n"
            << "  CA certificate and key   " << r.ca_dir << "  (ca.key is in no kit)\n"
            << "  coordinator kit          " << r.coordinator_kit << "\n"
            << "  client kits              " << options.out_dir << "/clients/<id>  ("
            << r.client_ids.size() << ": " << r.client_ids.front() << " ... " << r.client_ids.back()
            << ")\n";
  for (const std::string& kit : r.admin_kits)
    std::cout << "  admin kit                " << kit << "\n";
  std::cout << "Next steps:\n"
            << "  1. Copy " << r.coordinator_kit << " to the coordinator host and start\n"
            << "     fedge-coordinator there with its coordinator.toml (clients will connect to "
            << options.coordinator_hosts.front() << ":" << options.port << ").\n"
            << "  2. Send each site its own clients/<id> folder over a secure channel and start\n"
            << "     fedge-client there with its client.toml. Never send a kit to anyone else.\n"
            << "  3. Keep " << r.ca_dir << "/ca.key offline and backed up: it signs new clients.\n"
            << "     Never commit generated keys (see certs/README.md).\n";
}

Command AddProvisionCommand(CLI::App& app) {
  auto options = std::make_shared<ProvisionOptions>();
  ProvisionOptions& o = *options;
  CLI::App* cmd = app.add_subcommand(
      "provision", "Create the project CA and the coordinator, client and admin startup kits");
  cmd->add_option("--clients", o.clients, "Number of client kits: <prefix>001, <prefix>002, ...");
  cmd->add_option("--out", o.out_dir, "Output directory (must be empty unless --force)")
      ->required();
  cmd->add_option("--project", o.project, "Project name (CA subject)")->capture_default_str();
  cmd->add_option("--host", o.coordinator_hosts,
                  "Coordinator DNS name or IP in its certificate; repeatable; clients connect to "
                  "the first")
      ->capture_default_str();
  cmd->add_option("--listen", o.listen_address, "Coordinator listen address")
      ->capture_default_str();
  cmd->add_option("--port", o.port, "Coordinator port")->capture_default_str();
  cmd->add_option("--validity-days", o.validity_days, "Certificate lifetime")
      ->capture_default_str();
  cmd->add_option("--client-prefix", o.client_prefix, "Prefix of generated client ids")
      ->capture_default_str();
  cmd->add_option("--names", o.client_names, "Explicit client ids, comma-separated")
      ->delimiter(',');
  cmd->add_option("--admin", o.admins, "Admin kit name; repeatable")->capture_default_str();
  cmd->add_option("--rounds", o.rounds, "Training rounds")->capture_default_str();
  cmd->add_option("--data-dir", o.data_dir, "Dataset directory on the clients")
      ->capture_default_str();
  cmd->add_option("--partition", o.partition, "iid | dirichlet | shards")->capture_default_str();
  cmd->add_option("--alpha", o.alpha, "Dirichlet concentration")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed for model init and partitioning")->capture_default_str();
  cmd->add_flag("--force", o.force, "Replace the kits in a non-empty --out");
  return {cmd, [options] {
            if (options->clients == 0 && options->client_names.empty()) {
              return Fail(Status::InvalidArgument("provision needs --clients N or --names a,b,c"));
            }
            // Many kits take a while (a key pair and a certificate each): show progress.
            fedge::shared::Progress::Options bar;
            bar.label = "kits";
            bar.total = 1 +
                        static_cast<uint64_t>(options->client_names.empty()
                                                  ? options->clients
                                                  : options->client_names.size()) +
                        options->admins.size();
            bar.plain_every = bar.total < 20 ? 1.0 : 0.25;  // plain: few lines for few kits
            fedge::shared::Progress progress(bar);
            fedge::shared::ProvisionOptions o = *options;
            o.on_kit = [&progress](size_t done, size_t) { progress.Set(done); };
            auto result = fedge::shared::Provision(o);
            progress.Finish();
            if (!result.ok()) return Fail(result.status());
            PrintProvisioned(*options, *result);
            return 0;
          }};
}

// A progress bar for a long transfer (model export/import), on stderr: redrawn on a terminal,
// a line each quarter elsewhere.
fedge::shared::Progress::Options TransferBar(const char* label) {
  fedge::shared::Progress::Options bar;
  bar.label = label;
  bar.bytes = true;
  bar.plain_every = 0.25;
  return bar;
}

// ---- Admin commands (over mutual TLS) ----

using fedge::coordinator::AdminClient;
using fedge::coordinator::AdminConnectOptions;
using nlohmann::json;

struct Global {
  AdminConnectOptions connect;
  bool json = false;
};

std::string Time(uint64_t unix_ms) {
  if (unix_ms == 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string Num(const json& j, int precision = 4) {
  if (j.is_null()) return "-";
  if (j.is_number_float()) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(precision) << j.get<double>();
    return o.str();
  }
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

// A left-aligned text table.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

// Connects with the admin kit and runs `fn`; maps errors to exit codes.
int WithAdmin(const Global& g, const std::function<Status(AdminClient&)>& fn) {
  if (g.connect.kit_dir.empty()) {
    return Fail(Status::InvalidArgument(
        "this command talks to the coordinator: pass --kit ADMIN_KIT_DIR (an admin startup kit "
        "from `fedgectl provision`, e.g. kits/admins/admin)"));
  }
  auto client = AdminClient::Connect(g.connect);
  if (!client.ok()) return Fail(client.status());
  Status s = fn(**client);
  return s.ok() ? 0 : Fail(s);
}

void PrintModels(const json& models) {
  std::vector<std::vector<std::string>> rows;
  for (const json& m : models) {
    rows.push_back(
        {std::to_string(m["version"].get<uint64_t>()) + (m.value("head", false) ? "*" : ""),
         Num(m["parent"]), Num(m["round"]), m["origin"].get<std::string>(),
         Time(m["created_ms"].get<uint64_t>()), Num(m["contributors"]), Num(m["total_examples"]),
         m.contains("accuracy") ? Num(m["accuracy"]) : "-",
         m["digest"].get<std::string>().substr(0, 12),
         m.value("blob_deleted", false) ? "pruned" : "kept"});
  }
  PrintTable({"VERSION", "PARENT", "ROUND", "ORIGIN", "CREATED (UTC)", "CLIENTS", "EXAMPLES",
              "ACCURACY", "DIGEST", "BLOB"},
             rows);
}

void AddAdminCommands(CLI::App& app, std::vector<Command>& commands,
                      const std::shared_ptr<Global>& g) {
  auto listing = [&](const std::string& name, const std::string& help,
                     std::function<void(const json&)> print) {
    CLI::App* cmd = app.add_subcommand(name, help);
    cmd->add_flag("--json", g->json, "Print the coordinator's JSON answer");
    commands.push_back({cmd, [g, name, print] {
                          return WithAdmin(*g, [&](AdminClient& c) -> Status {
                            FEDGE_ASSIGN_OR_RETURN(json j, c.Call(name));
                            if (g->json) {
                              std::cout << j.dump(2) << "\n";
                            } else {
                              print(j);
                            }
                            return Status::Ok();
                          });
                        }});
  };
  listing("status", "Coordinator, open round, connected clients", [](const json& j) {
    const json& e = j["engine"];
    std::cout << "coordinator   " << j["coordinator"]["listen"].get<std::string>() << " (up "
              << Num(j["coordinator"]["uptime_s"], 0) << " s, data in "
              << j["coordinator"]["data_dir"].get<std::string>() << ")\n"
              << "model         version " << e["model_version"] << " from round "
              << e["model_round"] << " (" << j["coordinator"]["model_arch"].get<std::string>()
              << ")\n"
              << "rounds        up to round " << e["target_round"]
              << (e["finished"].get<bool>() ? ", all done" : "") << "\n";
    if (e["open_round"].is_null()) {
      std::cout << "open round    none\n";
    } else {
      const json& r = e["open_round"];
      std::cout << "open round    " << r["round"] << " (" << r["phase"].get<std::string>()
                << ", attempt " << r["attempt"] << "): " << r["accepted"] << "/" << r["sampled"]
                << " updates";
      if (r["resumed"].get<int>() > 0) std::cout << ", resumed " << r["resumed"] << "x";
      std::cout << "\n";
    }
    std::cout << "clients       " << j["clients_connected"] << " connected, "
              << j["clients_registered"] << " registered, " << j["clients_revoked"] << " revoked\n"
              << "updates       " << e["duplicates_ignored"] << " duplicates ignored, "
              << e["updates_rejected"] << " rejected\n";
    if (e.contains("drift")) {
      const json& d = e["drift"];
      int drifted = 0;
      std::string worst;
      double worst_score = -1;
      for (const json& c : d["clients"]) {
        if (c["drifted"].get<bool>()) ++drifted;
        if (c["score"].get<double>() > worst_score) {
          worst_score = c["score"].get<double>();
          worst = c["client"].get<std::string>();
        }
      }
      std::cout << "drift         " << drifted << " of " << d["clients"].size()
                << " reporting clients drifted";
      if (!worst.empty())
        std::cout << "; highest score " << Num(worst_score, 3) << " (" << worst << ")";
      std::cout << "\n";
      for (const json& c : d["campaigns"]) {
        std::cout << "campaign      " << c["id"] << " " << c["state"].get<std::string>()
                  << ": rounds " << c["first_round"] << "-" << c["last_round"] << ", "
                  << c["clients"].size() << " drifted client(s)";
        const json& o = c["outcome"];
        if (o.contains("version_after")) {
          std::cout << ", version " << o["version_before"] << " -> " << o["version_after"]
                    << ", accuracy " << Num(o.value("accuracy_before", json())) << " -> "
                    << Num(o["accuracy_after"]);
        }
        std::cout << "\n";
      }
    }
  });
  listing("clients", "Registered clients", [](const json& j) {
    std::vector<std::vector<std::string>> rows;
    for (const json& c : j["clients"]) {
      std::string drift = "-";
      if (c.contains("drift")) {
        drift = Num(c["drift"]["score"], 3) + (c["drift"]["drifted"].get<bool>() ? " drifted" : "");
      }
      rows.push_back({c["id"].get<std::string>(),
                      c["revoked"].get<bool>()     ? "revoked"
                      : c["connected"].get<bool>() ? "connected"
                                                   : "offline",
                      Time(c["last_seen_ms"].get<uint64_t>()), Num(c["train_examples"]),
                      Num(c["updates_accepted"]), drift,
                      c["fingerprint"].get<std::string>().substr(0, 16)});
    }
    PrintTable(
        {"CLIENT", "STATE", "LAST SEEN (UTC)", "EXAMPLES", "UPDATES", "DRIFT", "CERT SHA-256"},
        rows);
  });
  listing("rounds", "Completed rounds and the open one", [](const json& j) {
    std::vector<std::vector<std::string>> rows;
    for (const json& r : j["rounds"]) {
      const json& ev = r["evaluation"];
      rows.push_back({Num(r["round"]), Num(r["model_version"]),
                      Num(r["updates"]) + "/" + Num(r["sampled"]), Num(r["examples"]),
                      Num(r["train_loss"]), ev.contains("accuracy") ? Num(ev["accuracy"]) : "-",
                      Num(r["seconds"], 2), Num(r["resumed"]),
                      Time(r["ended_ms"].get<uint64_t>())});
    }
    PrintTable({"ROUND", "VERSION", "UPDATES", "EXAMPLES", "TRAIN LOSS", "ACCURACY", "SECONDS",
                "RESUMED", "ENDED (UTC)"},
               rows);
    if (!j["open_round"].is_null()) {
      std::cout << "open: round " << j["open_round"]["round"] << " ("
                << j["open_round"]["phase"].get<std::string>() << ")\n";
    }
  });
  listing("drift", "Drift per client and retraining campaigns", [](const json& j) {
    std::vector<std::vector<std::string>> rows;
    for (const json& c : j["clients"]) {
      rows.push_back({c["client"].get<std::string>(), Num(c["model_version"]), Num(c["window"]),
                      Num(c["score"], 3), c["top_feature"].get<std::string>(), Num(c["streak"]),
                      c["drifted"].get<bool>() ? "yes" : "no", Time(c["onset_ms"].get<uint64_t>()),
                      Time(c["last_report_ms"].get<uint64_t>())});
    }
    PrintTable({"CLIENT", "VERSION", "WINDOW", "SCORE", "FEATURE", "STREAK", "DRIFTED",
                "ONSET (UTC)", "LAST REPORT (UTC)"},
               rows);
    rows.clear();
    for (const json& c : j["campaigns"]) {
      std::string ids;
      for (const json& d : c["clients"])
        ids += (ids.empty() ? "" : ",") + d["client"].get<std::string>();
      const json& o = c["outcome"];
      rows.push_back(
          {Num(c["id"]), c["state"].get<std::string>(), Time(c["triggered_ms"].get<uint64_t>()),
           Num(c["first_round"]) + "-" + Num(c["last_round"]), ids,
           Num(o.value("version_before", json())), Num(o.value("version_after", json())),
           Num(o.value("accuracy_before", json())), Num(o.value("accuracy_after", json())),
           Num(o.value("drifted_accuracy_before", json())),
           Num(o.value("drifted_accuracy_after", json()))});
    }
    std::cout << "\n";
    PrintTable({"CAMPAIGN", "STATE", "TRIGGERED (UTC)", "ROUNDS", "CLIENTS", "FROM", "TO",
                "ACC BEFORE", "ACC AFTER", "DRIFTED BEFORE", "DRIFTED AFTER"},
               rows);
  });
  listing("models", "Model versions in the registry (* = head)",
          [](const json& j) { PrintModels(j["models"]); });

  CLI::App* model = app.add_subcommand("model",
                                       "One model version: show, lineage, compare, "
                                       "export, import, prune");
  model->require_subcommand(1);
  {
    auto version = std::make_shared<uint64_t>(0);
    CLI::App* show = model->add_subcommand("show", "Everything recorded about a version");
    show->add_option("VERSION", *version)->required();
    show->add_flag("--json", g->json, "Print JSON");
    commands.push_back(
        {show, [g, version] {
           return WithAdmin(*g, [&](AdminClient& c) -> Status {
             FEDGE_ASSIGN_OR_RETURN(json j, c.Call("model show", {std::to_string(*version)}));
             if (g->json) {
               std::cout << j.dump(2) << "\n";
               return Status::Ok();
             }
             std::cout << "version       " << j["version"]
                       << (j["head"].get<bool>() ? " (head)" : "") << "\n"
                       << "parent        " << Num(j["parent"]) << "\n"
                       << "round         " << j["round"] << "\n"
                       << "origin        " << j["origin"].get<std::string>() << "\n"
                       << "architecture  " << j["arch"].get<std::string>() << "\n"
                       << "created       " << Time(j["created_ms"]) << " UTC\n"
                       << "digest        " << j["digest"].get<std::string>() << "\n"
                       << "size          " << j["size_bytes"] << " bytes"
                       << (j["blob_deleted"].get<bool>() ? " (blob pruned)" : "") << "\n"
                       << "examples      " << j["total_examples"] << "\n"
                       << "contributors  ";
             std::string sep;
             for (const json& c : j["contributors"]) {
               std::cout << sep << c["client"].get<std::string>() << " (" << c["examples"] << ")";
               sep = ", ";
             }
             std::cout << "\nmetrics       " << j["metrics"].dump() << "\n";
             return Status::Ok();
           });
         }});
  }
  {
    auto version = std::make_shared<uint64_t>(0);
    CLI::App* lineage = model->add_subcommand("lineage", "Ancestry of a version to the first one");
    lineage->add_option("VERSION", *version)->required();
    lineage->add_flag("--json", g->json, "Print JSON");
    commands.push_back({lineage, [g, version] {
                          return WithAdmin(*g, [&](AdminClient& c) -> Status {
                            FEDGE_ASSIGN_OR_RETURN(
                                json j, c.Call("model lineage", {std::to_string(*version)}));
                            if (g->json) {
                              std::cout << j.dump(2) << "\n";
                            } else {
                              PrintModels(j["lineage"]);
                            }
                            return Status::Ok();
                          });
                        }});
  }
  {
    auto a = std::make_shared<uint64_t>(0), b = std::make_shared<uint64_t>(0);
    CLI::App* compare = model->add_subcommand("compare", "Metrics of two versions side by side");
    compare->add_option("VERSION_A", *a)->required();
    compare->add_option("VERSION_B", *b)->required();
    compare->add_flag("--json", g->json, "Print JSON");
    commands.push_back(
        {compare, [g, a, b] {
           return WithAdmin(*g, [&](AdminClient& c) -> Status {
             FEDGE_ASSIGN_OR_RETURN(
                 json j, c.Call("model compare", {std::to_string(*a), std::to_string(*b)}));
             if (g->json) {
               std::cout << j.dump(2) << "\n";
               return Status::Ok();
             }
             std::vector<std::vector<std::string>> rows;
             if (j.contains("metrics")) {
               for (const auto& [path, m] : j["metrics"].items()) {
                 rows.push_back({path, Num(m.value("a", json(nullptr))),
                                 Num(m.value("b", json(nullptr))),
                                 Num(m.value("delta", json(nullptr)))});
               }
             }
             PrintTable({"METRIC", "v" + std::to_string(*a), "v" + std::to_string(*b), "B - A"},
                        rows);
             for (const char* key : {"relation", "common_ancestor"}) {
               if (j.contains(key)) std::cout << key << ": " << j[key].dump() << "\n";
             }
             return Status::Ok();
           });
         }});
  }
  {
    auto version = std::make_shared<uint64_t>(0);
    auto file = std::make_shared<std::string>();
    CLI::App* exp =
        model->add_subcommand("export", "Write a version (record and weights) to a file");
    exp->add_option("VERSION", *version)->required();
    exp->add_option("FILE", *file)->required();
    commands.push_back(
        {exp, [g, version, file] {
           return WithAdmin(*g, [&](AdminClient& c) -> Status {
             FEDGE_ASSIGN_OR_RETURN(json j, c.Call("model export", {std::to_string(*version)}));
             FEDGE_ASSIGN_OR_RETURN(fedge::shared::Digest digest,
                                    fedge::shared::DigestFromHex(j["digest"].get<std::string>()));
             fedge::shared::Progress progress(TransferBar("download"));
             FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob,
                                    c.FetchBlob(digest, [&progress](uint64_t done, uint64_t total) {
                                      progress.SetTotal(total);
                                      progress.Set(done);
                                    }));
             progress.Finish();
             FEDGE_ASSIGN_OR_RETURN(auto record, fedge::coordinator::ModelRecordFromJson(j));
             FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                                    fedge::coordinator::EncodeExport(record, blob));
             FEDGE_RETURN_IF_ERROR(fedge::shared::WriteFileAtomic(*file, bytes, 0644));
             std::cout << "exported model version " << *version << " (" << bytes.size()
                       << " bytes) to " << *file << "\n";
             return Status::Ok();
           });
         }});
  }
  {
    auto file = std::make_shared<std::string>();
    CLI::App* imp = model->add_subcommand(
        "import", "Add a model exported by `model export` as a new version (not the head)");
    imp->add_option("FILE", *file)->required();
    commands.push_back(
        {imp, [g, file] {
           // Check the file here first, so a bad file fails before any upload.
           auto exported = fedge::coordinator::ReadExport(*file);
           if (!exported.ok()) return Fail(exported.status());
           return WithAdmin(*g, [&](AdminClient& c) -> Status {
             FEDGE_ASSIGN_OR_RETURN(
                 std::vector<uint8_t> bytes,
                 fedge::shared::ReadFile(*file, fedge::coordinator::kMaxExportFileBytes));
             fedge::shared::Progress::Options bar = TransferBar("upload");
             bar.total = bytes.size();
             fedge::shared::Progress progress(bar);
             FEDGE_RETURN_IF_ERROR(c.UploadExport(
                 bytes, [&progress](uint64_t done, uint64_t) { progress.Set(done); }));
             progress.Finish();
             FEDGE_ASSIGN_OR_RETURN(json j, c.Call("model import"));
             std::cout << "imported " << *file << " as model version " << j["version"] << "\n";
             return Status::Ok();
           });
         }});
  }

  {
    auto from = std::make_shared<uint64_t>(0);
    auto fraction = std::make_shared<double>(0.5);
    auto no_hidden = std::make_shared<bool>(false);
    CLI::App* prune = model->add_subcommand(
        "prune",
        "Prune a version's channels (L1) into a new head version; `round start` then "
        "fine-tunes it in federation");
    prune->add_option("--from", *from, "The version to prune")->required();
    prune->add_option("--fraction", *fraction, "Fraction of each layer's channels removed, (0, 1)")
        ->capture_default_str();
    prune->add_flag("--no-hidden", *no_hidden, "Keep the hidden linear layer's units");
    prune->add_flag("--json", g->json, "Print JSON");
    commands.push_back(
        {prune, [g, from, fraction, no_hidden] {
           return WithAdmin(*g, [&](AdminClient& c) -> Status {
             std::ostringstream f;
             f.precision(17);
             f << *fraction;
             FEDGE_ASSIGN_OR_RETURN(json j,
                                    c.Call("model prune", {std::to_string(*from), f.str(),
                                                           *no_hidden ? "no-hidden" : "hidden"}));
             if (g->json) {
               std::cout << j.dump(2) << "\n";
               return Status::Ok();
             }
             const json& p = j["metrics"]["prune"];
             std::cout << "pruned model version " << *from << " ("
                       << p["from_arch"].get<std::string>() << ", " << p["parameters_before"]
                       << " parameters) into version " << j["version"] << " ("
                       << j["arch"].get<std::string>() << ", " << p["parameters_after"]
                       << " parameters); it is the head now: `fedgectl round start --rounds N` "
                          "fine-tunes it in federation\n";
             return Status::Ok();
           });
         }});
  }

  CLI::App* round = app.add_subcommand("round", "Start more training rounds");
  round->require_subcommand(1);
  {
    auto rounds = std::make_shared<uint64_t>(1);
    CLI::App* start = round->add_subcommand("start", "Run more rounds after the current one");
    start->add_option("--rounds", *rounds, "How many rounds")->capture_default_str();
    start->add_flag("--json", g->json, "Print JSON");
    commands.push_back({start, [g, rounds] {
                          return WithAdmin(*g, [&](AdminClient& c) -> Status {
                            FEDGE_ASSIGN_OR_RETURN(
                                json j, c.Call("round start", {std::to_string(*rounds)}));
                            if (g->json) {
                              std::cout << j.dump(2) << "\n";
                            } else {
                              std::cout << "the coordinator will run rounds up to round "
                                        << j["target_round"] << "\n";
                            }
                            return Status::Ok();
                          });
                        }});
  }
  {
    auto id = std::make_shared<std::string>();
    auto reason = std::make_shared<std::string>();
    CLI::App* revoke = app.add_subcommand(
        "revoke", "Revoke a client's certificate: refused from now on, open session closed");
    revoke->add_option("CLIENT_ID", *id)->required();
    revoke->add_option("--reason", *reason, "Why (recorded and shown to the client)");
    revoke->add_flag("--json", g->json, "Print JSON");
    commands.push_back(
        {revoke, [g, id, reason] {
           return WithAdmin(*g, [&](AdminClient& c) -> Status {
             std::vector<std::string> args = {*id};
             if (!reason->empty()) args.push_back(*reason);
             FEDGE_ASSIGN_OR_RETURN(json j, c.Call("revoke", args));
             if (g->json) {
               std::cout << j.dump(2) << "\n";
             } else {
               std::cout << (j["already_revoked"].get<bool>() ? "already revoked: " : "revoked: ")
                         << *id << " (by " << j["revoked_by"].get<std::string>() << " at "
                         << Time(j["revoked_ms"]) << " UTC)"
                         << (j["known_client"].get<bool>() ? "" : "; note: this id never connected")
                         << "\n";
             }
             return Status::Ok();
           });
         }});
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Admin tool for a fedge federated-learning project", "fedgectl"};
  app.require_subcommand(1);
  auto global = std::make_shared<Global>();
  app.add_option("--kit", global->connect.kit_dir,
                 "Admin startup kit directory (admin.toml, ca.crt, admin.crt, admin.key)");
  app.add_option("--host", global->connect.host, "Coordinator host (default: from admin.toml)");
  app.add_option("--port", global->connect.port, "Coordinator port (default: from admin.toml)");
  app.add_option("--timeout", global->connect.timeout_seconds, "Seconds to wait for an answer")
      ->capture_default_str();
  std::vector<Command> commands = {AddProvisionCommand(app)};
  AddAdminCommands(app, commands, global);
  std::vector<fedge::coordinator::CliCommand> release_commands;
  fedge::coordinator::AddReleaseCommands(
      app, release_commands, std::shared_ptr<const AdminConnectOptions>(global, &global->connect));
  for (auto& c : release_commands) commands.push_back({c.app, std::move(c.run)});
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "fedgectl: " << e.what() << " (see fedgectl --help)\n";
    return kExitUsage;
  }
  for (const Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitUsage;
}
