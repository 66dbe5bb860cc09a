#include "eval/report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eval/files.h"

namespace ponder::eval {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json strategies_json(const std::vector<StrategySummary>& strategies) {
  json list = json::array();
  for (const auto& s : strategies) {
    json coverage = json::object();
    for (const auto& [k, v] : s.coverage) coverage[std::to_string(k)] = v;
    list.push_back({{"name", s.name},
                    {"questions", s.questions},
                    {"accuracy", s.accuracy},
                    {"ci95", {s.ci95.first, s.ci95.second}},
                    {"generated_tokens", s.generated_tokens},
                    {"verifier_tokens", s.verifier_tokens},
                    {"equivalent_tokens", s.equivalent_tokens},
                    {"large_share", s.large_share},
                    {"forward_passes", s.forward_passes},
                    {"decoded_tokens", s.decoded_tokens},
                    {"reprocess_ratio", s.reprocess_ratio},
                    {"samples", s.samples},
                    {"wall_s", s.wall_s},
                    {"coverage", coverage},
                    {"errors", s.errors},
                    {"no_answer_share", s.no_answer_share}});
  }
  return list;
}

json summary_json(const EvalReport& report) {
  json j = {{"strategies", strategies_json(report.strategies)},
            {"equivalent_to", {{"model", report.equivalent_model}, {"parameters", report.equivalent_parameters}}},
            {"scaling_efficiency", report.scaling_efficiency},
            {"warnings", report.warnings}};
  if (!report.group_by.empty()) {
    json groups = json::array();
    for (const auto& g : report.groups) {
      groups.push_back({{"value", g.value}, {"items", g.items}, {"strategies", strategies_json(g.strategies)}});
    }
    j["group_by"] = report.group_by;
    j["groups"] = groups;
  }
  return j;
}

// Accuracy and generated tokens per question of every strategy in every group.
void group_table(std::ostringstream& md, const EvalReport& report) {
  md << "\nBy " << report.group_by << " (accuracy, generated tokens / q):\n\n| strategy |";
  for (const auto& g : report.groups) md << ' ' << (g.value.empty() ? "(none)" : g.value) << " (" << g.items << " q) |";
  md << "\n|---|";
  for (size_t i = 0; i < report.groups.size(); ++i) md << "---|";
  md << '\n';
  char cell[96];
  for (size_t k = 0; k < report.strategies.size(); ++k) {
    md << "| " << report.strategies[k].name << " |";
    for (const auto& g : report.groups) {
      const StrategySummary& s = g.strategies[k];
      std::snprintf(cell, sizeof(cell), " %.1f%% %.1f |", 100 * s.accuracy, s.generated_tokens);
      md << cell;
    }
    md << '\n';
  }
}

std::string markdown(const EvalReport& report) {
  std::ostringstream md;
  // A column for the large model's share when one wrote anything.
  const bool large = std::any_of(report.strategies.begin(), report.strategies.end(),
                                 [](const StrategySummary& s) { return s.large_share > 0; });
  md << "| strategy | accuracy | 95% CI | generated tokens / q | verifier tokens / q | equivalent tokens / q | "
     << (large ? "large-model share | " : "")
     << "samples / q | forward passes / q | reprocess ratio | wall s / q | coverage |\n";
  md << "|---|---|---|---|---|---|" << (large ? "---|" : "") << "---|---|---|---|---|\n";
  char line[512];
  for (const auto& s : report.strategies) {
    std::string coverage;
    for (const auto& [k, v] : s.coverage) {
      char c[32];
      std::snprintf(c, sizeof(c), "%s@%d %.1f%%", coverage.empty() ? "" : ", ", k, 100 * v);
      coverage += c;
    }
    char share[32] = "";
    if (large) std::snprintf(share, sizeof(share), " %.1f%% |", 100 * s.large_share);
    std::snprintf(line, sizeof(line),
                  "| %s | %.1f%% | %.1f-%.1f | %.1f | %.1f | %.1f |%s %.2f | %.1f | %.3f | %.3f | %s |\n",
                  s.name.c_str(), 100 * s.accuracy, 100 * s.ci95.first, 100 * s.ci95.second, s.generated_tokens,
                  s.verifier_tokens, s.equivalent_tokens, share, s.samples, s.forward_passes, s.reprocess_ratio,
                  s.wall_s, coverage.c_str());
    md << line;
  }
  std::snprintf(line, sizeof(line),
                "\nEquivalent tokens: each model's tokens (a generator's drawn and scored, a verifier's read) x its "
                "parameters / %lld (%s).\n",
                (long long)report.equivalent_parameters, report.equivalent_model.c_str());
  md << line;
  md << "\nScaling efficiency (accuracy points per doubling of generated tokens, drops count twice):";
  for (const auto& [family, score] : report.scaling_efficiency) {
    std::snprintf(line, sizeof(line), " %s %.2f;", family.c_str(), 100 * score);
    md << line;
  }
  md << "\n";
  if (!report.group_by.empty()) group_table(md, report);
  if (!report.warnings.empty()) md << "\nWarnings:\n\n";
  for (const auto& w : report.warnings) md << "- " << w << '\n';
  return md.str();
}

}  // namespace

void write_reports(const fs::path& dir, const EvalReport& report) {
  write_file_atomic(dir / "summary.json", summary_json(report).dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  write_file_atomic(dir / "summary.md", markdown(report));
}

}  // namespace ponder::eval
