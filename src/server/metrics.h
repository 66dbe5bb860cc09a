#pragma once
// The server's counters, gauges and histograms, written as Prometheus text for /metrics.
// Thread-safe: handlers record from their threads, the engine thread updates gauges.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace ponder::server {

// A Prometheus histogram: cumulative counts per upper bound, their sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // "# TYPE name histogram" and its _bucket / _sum / _count lines.
  std::string render(const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; the last one is +Inf
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

// What one finished request spent and how it went.
struct RequestRecord {
  std::string endpoint;  // "chat", "completions"
  std::string model;
  std::string strategy;  // the strategy's name, or "" before it was known
  int status = 200;
  int64_t prompt_tokens = 0;  // decoded
  int64_t cached_tokens = 0;  // prompt tokens copied from the prompt cache instead
  int64_t generated_tokens = 0;
  int64_t hidden_tokens = 0;  // generated in samples no choice returned
  int64_t verifier_tokens = 0;
  int64_t scored_tokens = 0;
  int samples = 0;                   // samples drawn, over all choices
  int stopped_early = 0;             // samples pruned before they finished
  bool timed = false;                // the times below were measured (the request ran)
  double queue_seconds = 0.0;        // from submission to the first sample launched
  double first_token_seconds = 0.0;  // from arrival to the first answer text
  double per_token_seconds = 0.0;    // after the first answer token, per answer token (0: not measured)
  double total_seconds = 0.0;
};

class Metrics {
 public:
  Metrics();
  void record(const RequestRecord& r);
  // Gauges the engine threads keep current, per model.
  void set_queue(const std::string& model, int waiting, int running);
  void set_kv(const std::string& model, int live_sequences, int waiting_sequences, int cached_sequences,
              int slots);
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, std::string, int>, uint64_t>
      requests_;                           // endpoint, model, strategy, status
  std::map<std::string, int64_t> tokens_;  // by kind
  uint64_t stopped_early_ = 0;
  struct ModelGauges {
    int waiting = 0;
    int running = 0;
    int live_sequences = 0;
    int waiting_sequences = 0;
    int cached_sequences = 0;
    int slots = 0;
  };
  std::map<std::string, ModelGauges> gauges_;
  Histogram samples_;
  Histogram queue_time_;
  Histogram first_token_;
  Histogram per_token_;
  Histogram latency_;
};

}  // namespace ponder::server
