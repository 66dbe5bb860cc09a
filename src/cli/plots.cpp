#include "cli/plots.h"

#include <sys/stat.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "cli/process.h"
#include "eval/files.h"

namespace ponder::cli {

namespace {

namespace fs = std::filesystem;

struct Axis {
  const char* stem;
  const char* label;
  bool wall;
};
constexpr Axis kAxes[] = {{"accuracy_vs_tokens", "generated tokens per question", false},
                          {"accuracy_vs_wall", "wall time per question (s)", true}};
constexpr const char* kTerminals[][2] = {{"png", "pngcairo size 900,600"}, {"svg", "svg size 900,600"}};

// Two data blocks: every strategy (name, cost, accuracy %), then the Pareto frontier in
// cost order. Only positive costs: the cost axis is logarithmic.
std::string plot_data(const EvalReport& report, bool wall) {
  std::vector<std::pair<double, double>> points;
  std::vector<const StrategySummary*> shown;
  for (const auto& s : report.strategies) {
    const double cost = wall ? s.wall_s : s.generated_tokens;
    if (!(cost > 0)) continue;
    points.emplace_back(cost, s.accuracy);
    shown.push_back(&s);
  }
  std::ostringstream out;
  out.precision(10);
  for (size_t i = 0; i < points.size(); ++i) {
    out << shown[i]->name << '\t' << points[i].first << '\t' << 100 * points[i].second << '\n';
  }
  out << "\n\n";
  for (size_t i : pareto_frontier(points)) {
    out << shown[i]->name << '\t' << points[i].first << '\t' << 100 * points[i].second << '\n';
  }
  return points.empty() ? "" : out.str();
}

// The gnuplot commands, run in the output directory: every file name in them is one of
// the constants above, so no path ever becomes script text. Separated by ';' since
// gnuplot -e reads them as one line.
std::string plot_script(const Axis& axis) {
  std::ostringstream script;
  script << "set datafile separator tab; set logscale x 2; set grid; set key bottom right noenhanced; "
         << "set offsets graph 0.05, graph 0.05, graph 0.1, graph 0.05; "
         << "set xlabel '" << axis.label << "'; set ylabel 'accuracy (%)'; ";
  for (const auto& [ext, terminal] : kTerminals) {
    script << "set terminal " << terminal << "; set output '" << axis.stem << "." << ext << ".tmp'; "
           << "plot '" << axis.stem << ".tsv' index 0 using 2:3 with points pt 7 ps 1.2 title 'strategies', "
           << "'' index 0 using 2:3:1 with labels offset 0,1 font ',8' noenhanced notitle, "
           << "'' index 1 using 2:3 with linespoints lw 2 pt 6 ps 2 title 'Pareto frontier'; ";
  }
  script << "unset output";
  return script.str();
}

}  // namespace

std::string write_plots(const fs::path& dir, const EvalReport& report) {
  if (!program_in_path("gnuplot")) return "gnuplot is not installed";
  for (const Axis& axis : kAxes) {
    if (plot_data(report, axis.wall).empty()) return "no strategy has a cost to plot";
  }
  for (const Axis& axis : kAxes) {
    eval::write_file_atomic(dir / (std::string(axis.stem) + ".tsv"), plot_data(report, axis.wall));
    const ProcessResult gnuplot = run_process({"gnuplot", "-e", plot_script(axis)}, dir.string(), true);
    for (const auto& [ext, terminal] : kTerminals) {
      const fs::path image = dir / (std::string(axis.stem) + "." + ext);
      const fs::path tmp = image.string() + ".tmp";
      struct stat st {};
      if (gnuplot.exit_code != 0 || ::stat(tmp.c_str(), &st) != 0 || st.st_size == 0) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw std::runtime_error(
            "cannot write " + image.string() + ": gnuplot exited with " + std::to_string(gnuplot.exit_code) +
            (gnuplot.output.empty() ? std::string() : ": " + gnuplot.output.substr(0, 500)));
      }
      std::error_code error;
      fs::rename(tmp, image, error);
      if (error) throw std::runtime_error("cannot write " + image.string() + ": " + error.message());
    }
  }
  return "";
}

}  // namespace ponder::cli
