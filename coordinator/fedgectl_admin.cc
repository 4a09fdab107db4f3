#include "coordinator/fedgectl_admin.h"

#include <functional>
#include <iostream>
#include <sstream>
#include <string>

#include "coordinator/admin_commands.h"
#include "coordinator/registry.h"
#include "shared/base/progress.h"
#include "shared/crypto/crypto.h"

namespace fedge::coordinator {

namespace {

using nlohmann::json;
using shared::Status;
using Options = std::shared_ptr<AdminCliOptions>;
using Printer = std::function<void(const json&)>;

// The subcommand of admin command `id` under `parent` (the last word of its name).
CLI::App* AddSubcommand(CLI::App& parent, AdminCommandId id) {
  const AdminCommandSpec& spec = AdminCommandInfo(id);
  return parent.add_subcommand(std::string(AdminSubcommandName(spec)), std::string(spec.help));
}

// Sends `id` with `args` and prints the answer: its JSON with --json, else `print(answer)`.
Status CallAndPrint(AdminClient& c, const AdminCliOptions& o, AdminCommandId id,
                    const std::vector<std::string>& args, const Printer& print) {
  FEDGE_ASSIGN_OR_RETURN(json j, c.Call(id, args));
  if (o.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    print(j);
  }
  return Status::Ok();
}

// A subcommand that sends `id` with the arguments `args()` returns and prints the answer.
void AddCall(CLI::App* cmd, std::vector<CliCommand>& commands, const Options& o, AdminCommandId id,
             std::function<std::vector<std::string>()> args, Printer print) {
  cmd->add_flag("--json", o->json, "Print the coordinator's JSON answer");
  commands.push_back({cmd, [o, id, args, print] {
                        return Done(WithAdmin(o->connect, [&](AdminClient& c) {
                          return CallAndPrint(c, *o, id, args(), print);
                        }));
                      }});
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

void PrintOpenRound(const json& e) {
  if (e["open_round"].is_null()) {
    std::cout << "open round    none\n";
    return;
  }
  const json& r = e["open_round"];
  std::cout << "open round    " << r["round"] << " (" << r["phase"].get<std::string>()
            << ", attempt " << r["attempt"] << "): " << r["accepted"] << "/" << r["sampled"]
            << " updates";
  if (r["resumed"].get<int>() > 0) std::cout << ", resumed " << r["resumed"] << "x";
  std::cout << "\n";
}

void PrintDriftSummary(const json& d) {
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
    std::cout << "campaign      " << c["id"] << " " << c["state"].get<std::string>() << ": rounds "
              << c["first_round"] << "-" << c["last_round"] << ", " << c["clients"].size()
              << " drifted client(s)";
    const json& o = c["outcome"];
    if (o.contains("version_after")) {
      std::cout << ", version " << o["version_before"] << " -> " << o["version_after"]
                << ", accuracy " << Num(o.value("accuracy_before", json())) << " -> "
                << Num(o["accuracy_after"]);
    }
    std::cout << "\n";
  }
}

void PrintStatus(const json& j) {
  const json& e = j["engine"];
  std::cout << "coordinator   " << j["coordinator"]["listen"].get<std::string>() << " (up "
            << Num(j["coordinator"]["uptime_s"], 0) << " s, data in "
            << j["coordinator"]["data_dir"].get<std::string>() << ")\n"
            << "model         version " << e["model_version"] << " from round " << e["model_round"]
            << " (" << j["coordinator"]["model_arch"].get<std::string>() << ")\n"
            << "rounds        up to round " << e["target_round"]
            << (e["finished"].get<bool>() ? ", all done" : "") << "\n";
  PrintOpenRound(e);
  std::cout << "clients       " << j["clients_connected"] << " connected, "
            << j["clients_registered"] << " registered, " << j["clients_revoked"] << " revoked\n"
            << "updates       " << e["duplicates_ignored"] << " duplicates ignored, "
            << e["updates_rejected"] << " rejected\n";
  if (e.contains("drift")) PrintDriftSummary(e["drift"]);
}

void PrintClients(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const json& c : j["clients"]) {
    std::string drift = "-";
    if (c.contains("drift")) {
      drift = Num(c["drift"]["score"], 3) + (c["drift"]["drifted"].get<bool>() ? " drifted" : "");
    }
    std::string suspicion = "-";
    bool quarantined = false;
    if (c.contains("standing")) {
      const json& st = c["standing"];
      quarantined = st["quarantined"].get<bool>();
      suspicion = Num(st["flagged_in_window"]) + "/" + Num(st["window"]) + " flagged";
      if (st.contains("last_score")) suspicion += ", last " + Num(st["last_score"], 2);
    }
    rows.push_back({c["id"].get<std::string>(),
                    c["revoked"].get<bool>()     ? "revoked"
                    : quarantined                ? "quarantined"
                    : c["connected"].get<bool>() ? "connected"
                                                 : "offline",
                    Time(c["last_seen_ms"].get<uint64_t>()), Num(c["train_examples"]),
                    Num(c["updates_accepted"]), drift, suspicion,
                    c["fingerprint"].get<std::string>().substr(0, 16)});
  }
  PrintTable({"CLIENT", "STATE", "LAST SEEN (UTC)", "EXAMPLES", "UPDATES", "DRIFT", "SUSPICION",
              "CERT SHA-256"},
             rows);
  for (const json& c : j["clients"]) {
    if (c.contains("standing") && c["standing"]["quarantined"].get<bool>()) {
      std::cout << c["id"].get<std::string>()
                << " is quarantined: " << c["standing"]["quarantine_reason"].get<std::string>()
                << " (fedgectl unquarantine " << c["id"].get<std::string>() << ")\n";
    }
  }
}

void PrintRounds(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const json& r : j["rounds"]) {
    const json& ev = r["evaluation"];
    rows.push_back({Num(r["round"]), Num(r["model_version"]),
                    Num(r["updates"]) + "/" + Num(r["sampled"]), Num(r["examples"]),
                    Num(r["train_loss"]), ev.contains("accuracy") ? Num(ev["accuracy"]) : "-",
                    Num(r["seconds"], 2), Num(r["resumed"]), Time(r["ended_ms"].get<uint64_t>())});
  }
  PrintTable({"ROUND", "VERSION", "UPDATES", "EXAMPLES", "TRAIN LOSS", "ACCURACY", "SECONDS",
              "RESUMED", "ENDED (UTC)"},
             rows);
  if (!j["open_round"].is_null()) {
    std::cout << "open: round " << j["open_round"]["round"] << " ("
              << j["open_round"]["phase"].get<std::string>() << ")\n";
  }
}

void PrintCampaigns(const json& campaigns) {
  std::vector<std::vector<std::string>> rows;
  for (const json& c : campaigns) {
    std::string ids;
    for (const json& d : c["clients"]) {
      ids += (ids.empty() ? "" : ",") + d["client"].get<std::string>();
    }
    const json& o = c["outcome"];
    rows.push_back({Num(c["id"]), c["state"].get<std::string>(),
                    Time(c["triggered_ms"].get<uint64_t>()),
                    Num(c["first_round"]) + "-" + Num(c["last_round"]), ids,
                    Num(o.value("version_before", json())), Num(o.value("version_after", json())),
                    Num(o.value("accuracy_before", json())), Num(o.value("accuracy_after", json())),
                    Num(o.value("drifted_accuracy_before", json())),
                    Num(o.value("drifted_accuracy_after", json()))});
  }
  PrintTable({"CAMPAIGN", "STATE", "TRIGGERED (UTC)", "ROUNDS", "CLIENTS", "FROM", "TO",
              "ACC BEFORE", "ACC AFTER", "DRIFTED BEFORE", "DRIFTED AFTER"},
             rows);
}

void PrintDrift(const json& j) {
  std::vector<std::vector<std::string>> rows;
  for (const json& c : j["clients"]) {
    rows.push_back({c["client"].get<std::string>(), Num(c["model_version"]), Num(c["window"]),
                    Num(c["score"], 3), c["top_feature"].get<std::string>(), Num(c["streak"]),
                    c["drifted"].get<bool>() ? "yes" : "no", Time(c["onset_ms"].get<uint64_t>()),
                    Time(c["last_report_ms"].get<uint64_t>())});
  }
  PrintTable({"CLIENT", "VERSION", "WINDOW", "SCORE", "FEATURE", "STREAK", "DRIFTED", "ONSET (UTC)",
              "LAST REPORT (UTC)"},
             rows);
  std::cout << "\n";
  PrintCampaigns(j["campaigns"]);
}

void PrintModel(const json& j) {
  std::cout << "version       " << j["version"] << (j["head"].get<bool>() ? " (head)" : "") << "\n"
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
}

void PrintComparison(const json& j, uint64_t a, uint64_t b) {
  std::vector<std::vector<std::string>> rows;
  if (j.contains("metrics")) {
    for (const auto& [path, m] : j["metrics"].items()) {
      rows.push_back({path, Num(m.value("a", json(nullptr))), Num(m.value("b", json(nullptr))),
                      Num(m.value("delta", json(nullptr)))});
    }
  }
  PrintTable({"METRIC", "v" + std::to_string(a), "v" + std::to_string(b), "B - A"}, rows);
  for (const char* key : {"relation", "common_ancestor"}) {
    if (j.contains(key)) std::cout << key << ": " << j[key].dump() << "\n";
  }
}

void PrintPruned(const json& j, uint64_t from) {
  const json& p = j["metrics"]["prune"];
  std::cout << "pruned model version " << from << " (" << p["from_arch"].get<std::string>() << ", "
            << p["parameters_before"] << " parameters) into version " << j["version"] << " ("
            << j["arch"].get<std::string>() << ", " << p["parameters_after"]
            << " parameters); it is the head now: `fedgectl round start --rounds N` "
               "fine-tunes it in federation\n";
}

void AddListings(CLI::App& app, std::vector<CliCommand>& commands, const Options& o) {
  const std::pair<AdminCommandId, Printer> listings[] = {
      {AdminCommandId::kStatus, PrintStatus},
      {AdminCommandId::kClients, PrintClients},
      {AdminCommandId::kRounds, PrintRounds},
      {AdminCommandId::kDrift, PrintDrift},
      {AdminCommandId::kModels, [](const json& j) { PrintModels(j["models"]); }},
  };
  for (const auto& [id, print] : listings) {
    AddCall(
        AddSubcommand(app, id), commands, o, id, [] { return std::vector<std::string>{}; }, print);
  }
}

void AddModelQueries(CLI::App& model, std::vector<CliCommand>& commands, const Options& o) {
  auto version = std::make_shared<uint64_t>(0);
  CLI::App* show = AddSubcommand(model, AdminCommandId::kModelShow);
  show->add_option("VERSION", *version)->required();
  AddCall(
      show, commands, o, AdminCommandId::kModelShow,
      [version] { return std::vector<std::string>{std::to_string(*version)}; }, PrintModel);
  CLI::App* lineage = AddSubcommand(model, AdminCommandId::kModelLineage);
  lineage->add_option("VERSION", *version)->required();
  AddCall(
      lineage, commands, o, AdminCommandId::kModelLineage,
      [version] { return std::vector<std::string>{std::to_string(*version)}; },
      [](const json& j) { PrintModels(j["lineage"]); });
  auto a = std::make_shared<uint64_t>(0), b = std::make_shared<uint64_t>(0);
  CLI::App* compare = AddSubcommand(model, AdminCommandId::kModelCompare);
  compare->add_option("VERSION_A", *a)->required();
  compare->add_option("VERSION_B", *b)->required();
  AddCall(
      compare, commands, o, AdminCommandId::kModelCompare,
      [a, b] {
        return std::vector<std::string>{std::to_string(*a), std::to_string(*b)};
      },
      [a, b](const json& j) { PrintComparison(j, *a, *b); });
}

Status ExportModel(AdminClient& c, uint64_t version, const std::string& file) {
  FEDGE_ASSIGN_OR_RETURN(json j, c.Call(AdminCommandId::kModelExport, {std::to_string(version)}));
  FEDGE_ASSIGN_OR_RETURN(shared::Digest digest,
                         shared::DigestFromHex(j["digest"].get<std::string>()));
  shared::Progress progress(TransferBar("download"));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob,
                         c.FetchBlob(digest, [&progress](uint64_t done, uint64_t total) {
                           progress.SetTotal(total);
                           progress.Set(done);
                         }));
  progress.Finish();
  FEDGE_ASSIGN_OR_RETURN(ModelRecord record, ModelRecordFromJson(j));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, EncodeExport(record, blob));
  FEDGE_RETURN_IF_ERROR(shared::WriteFileAtomic(file, bytes, 0644));
  std::cout << "exported model version " << version << " (" << bytes.size() << " bytes) to " << file
            << "\n";
  return Status::Ok();
}

Status ImportModel(AdminClient& c, const std::string& file) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::ReadFile(file, kMaxExportFileBytes));
  shared::Progress::Options bar = TransferBar("upload");
  bar.total = bytes.size();
  shared::Progress progress(bar);
  FEDGE_RETURN_IF_ERROR(
      c.UploadExport(bytes, [&progress](uint64_t done, uint64_t) { progress.Set(done); }));
  progress.Finish();
  FEDGE_ASSIGN_OR_RETURN(json j, c.Call(AdminCommandId::kModelImport));
  std::cout << "imported " << file << " as model version " << j["version"] << "\n";
  return Status::Ok();
}

void AddModelTransfers(CLI::App& model, std::vector<CliCommand>& commands, const Options& o) {
  auto version = std::make_shared<uint64_t>(0);
  auto file = std::make_shared<std::string>();
  CLI::App* exp = AddSubcommand(model, AdminCommandId::kModelExport);
  exp->add_option("VERSION", *version)->required();
  exp->add_option("FILE", *file)->required();
  commands.push_back({exp, [o, version, file] {
                        return Done(WithAdmin(o->connect, [&](AdminClient& c) {
                          return ExportModel(c, *version, *file);
                        }));
                      }});
  CLI::App* imp = AddSubcommand(model, AdminCommandId::kModelImport);
  imp->add_option("FILE", *file)->required();
  commands.push_back(
      {imp, [o, file] {
         // Check the file here first, so a bad file fails before any upload.
         auto exported = ReadExport(*file);
         if (!exported.ok()) return Fail(exported.status());
         return Done(WithAdmin(o->connect, [&](AdminClient& c) { return ImportModel(c, *file); }));
       }});
}

void AddModelPrune(CLI::App& model, std::vector<CliCommand>& commands, const Options& o) {
  auto from = std::make_shared<uint64_t>(0);
  auto fraction = std::make_shared<double>(0.5);
  auto no_hidden = std::make_shared<bool>(false);
  CLI::App* prune = AddSubcommand(model, AdminCommandId::kModelPrune);
  prune->add_option("--from", *from, "The version to prune")->required();
  prune->add_option("--fraction", *fraction, "Fraction of each layer's channels removed, (0, 1)")
      ->capture_default_str();
  prune->add_flag("--no-hidden", *no_hidden, "Keep the hidden linear layer's units");
  auto args = [from, fraction, no_hidden] {
    std::ostringstream f;
    f.precision(17);
    f << *fraction;
    return std::vector<std::string>{std::to_string(*from), f.str(),
                                    *no_hidden ? "no-hidden" : "hidden"};
  };
  AddCall(prune, commands, o, AdminCommandId::kModelPrune, args,
          [from](const json& j) { PrintPruned(j, *from); });
}

void AddRoundStart(CLI::App& app, std::vector<CliCommand>& commands, const Options& o) {
  CLI::App* round = app.add_subcommand("round", "Start more training rounds");
  round->require_subcommand(1);
  auto rounds = std::make_shared<uint64_t>(1);
  CLI::App* start = AddSubcommand(*round, AdminCommandId::kRoundStart);
  start->add_option("--rounds", *rounds, "How many rounds")->capture_default_str();
  AddCall(
      start, commands, o, AdminCommandId::kRoundStart,
      [rounds] { return std::vector<std::string>{std::to_string(*rounds)}; },
      [](const json& j) {
        std::cout << "the coordinator will run rounds up to round " << j["target_round"] << "\n";
      });
}

void AddUnquarantine(CLI::App& app, std::vector<CliCommand>& commands, const Options& o) {
  auto id = std::make_shared<std::string>();
  CLI::App* clear = AddSubcommand(app, AdminCommandId::kUnquarantine);
  clear->add_option("CLIENT_ID", *id)->required();
  AddCall(
      clear, commands, o, AdminCommandId::kUnquarantine,
      [id] { return std::vector<std::string>{*id}; },
      [id](const json& j) {
        std::cout << "quarantine lifted: " << *id << " (by " << j["cleared_by"].get<std::string>()
                  << " after round " << j["cleared_round"]
                  << "); it is offered tasks from the next round\n";
      });
}

void AddRevoke(CLI::App& app, std::vector<CliCommand>& commands, const Options& o) {
  auto id = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  CLI::App* revoke = AddSubcommand(app, AdminCommandId::kRevoke);
  revoke->add_option("CLIENT_ID", *id)->required();
  revoke->add_option("--reason", *reason, "Why (recorded and shown to the client)");
  auto args = [id, reason] {
    std::vector<std::string> a = {*id};
    if (!reason->empty()) a.push_back(*reason);
    return a;
  };
  AddCall(revoke, commands, o, AdminCommandId::kRevoke, args, [id](const json& j) {
    std::cout << (j["already_revoked"].get<bool>() ? "already revoked: " : "revoked: ") << *id
              << " (by " << j["revoked_by"].get<std::string>() << " at " << Time(j["revoked_ms"])
              << " UTC)" << (j["known_client"].get<bool>() ? "" : "; note: this id never connected")
              << "\n";
  });
}

}  // namespace

void AddAdminCommands(CLI::App& app, std::vector<CliCommand>& commands, const Options& options) {
  AddListings(app, commands, options);
  CLI::App* model = app.add_subcommand("model",
                                       "One model version: show, lineage, compare, "
                                       "export, import, prune");
  model->require_subcommand(1);
  AddModelQueries(*model, commands, options);
  AddModelTransfers(*model, commands, options);
  AddModelPrune(*model, commands, options);
  AddRoundStart(app, commands, options);
  AddRevoke(app, commands, options);
  AddUnquarantine(app, commands, options);
}

}  // namespace fedge::coordinator
