// The watch's output: for people (a live line on a terminal, a line per iteration and per event,
// a summary), or JSON lines for scripts.
#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>

#include "base/format.hpp"
#include "watch/watch.hpp"

namespace vmp::watch {
namespace {

using nlohmann::json;
using vmp::format_bytes;
using vmp::format_duration;

std::string rate_text(double bytes_per_s) { return format_bytes(bytes_per_s) + "/s"; }

std::string owner_text(JobOwner o) {
  switch (o) {
    case JobOwner::Libvirt:
      return "run by libvirt";
    case JobOwner::Qmp:
      return "run through QEMU's monitor (QMP), unknown to libvirt's job API";
    case JobOwner::None:
      return "not running";
  }
  return "";
}

std::string forecast_text(const std::optional<Forecast>& f) {
  if (!f) return "no prediction";
  if (!f->converges())
    return "does not converge as it is (" + model::to_string(f->rest.outcome) + ")";
  return "completes at " + format_duration(f->total_time_ms()) + ", paused " +
         (f->downtime_upper_bound ? "at most " : "about ") + format_duration(f->rest.downtime_ms);
}

json opt(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? json(*v) : json(nullptr);
}
json opt_ms(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? json(std::round(*v)) : json(nullptr);
}
json opt_bytes(const std::optional<double>& v) {
  return v && std::isfinite(*v) ? json(std::llround(*v)) : json(nullptr);
}

json forecast_json(const std::optional<Forecast>& f) {
  if (!f) return nullptr;
  return {{"converges", f->converges()},
          {"outcome", model::to_string(f->rest.outcome)},
          {"made_at_ms", std::round(f->at_elapsed_ms)},
          {"total_time_ms", f->converges() ? json(std::round(f->total_time_ms())) : json(nullptr)},
          {"downtime_ms", f->converges() ? json(std::round(f->rest.downtime_ms)) : json(nullptr)},
          {"downtime_upper_bound", f->downtime_upper_bound},
          {"iterations_left", f->rest.iterations}};
}

json advice_json(const StallAdvice& a) {
  return {{"action", to_string(a.action)},
          {"downtime_limit_ms", opt_ms(a.downtime_limit_ms)},
          {"least_converging_downtime_limit_ms", opt_ms(a.least_converging_ms)},
          {"command", a.command},
          {"why", a.why}};
}

json stall_json(const Stall& s) {
  return {{"since_iteration", s.since_iteration},
          {"since_ms", std::round(s.since_ms)},
          {"low_peak_bytes", std::llround(s.low_peak_bytes)},
          {"detected_iteration", s.detected_iteration},
          {"detected_ms", std::round(s.detected_ms)},
          {"last_peak_bytes", std::llround(s.last_peak_bytes)}};
}

// ------------------------------------------------------------------------------------ people

class HumanOutput : public WatchOutput {
 public:
  HumanOutput(std::ostream& out, std::ostream& err, bool live)
      : out_(out), err_(err), live_(live) {}
  ~HumanOutput() override { clear_live(); }

  void attached(const AttachView& v) override {
    domain_ = v.domain;
    std::string line = v.domain + ": watching its migration, " + owner_text(v.owner);
    if (v.downtime_limit_ms) line += "; max downtime " + format_duration(*v.downtime_limit_ms);
    print(line);
    print(
        "  expected downtime here: what would be pending if the guest paused now (QEMU's "
        "remaining plus the pages dirtied since its last sync) over the throughput of the last " +
        format_duration(kThroughputWindowMs) +
        "; QEMU's own counts only what was dirty at its last sync, over its last 100 ms window");
    if (!v.granularity.reason.empty()) print("  " + v.granularity.reason);
    print("  predicted now: " + forecast_text(v.forecast) +
          (v.curve_origin.empty() ? "" : " (dirty curve: " + v.curve_origin + ")"));
    if (!v.apply) print("  advice is only shown: nothing is changed without --apply");
  }

  void sample(const SampleView& v) override {
    if (!live_) return;
    const Sample& s = v.sample;
    std::string line;
    if (s.phase == Phase::Setup) {
      line = "setting up (libvirt prepares the destination, QEMU has not started sending)";
      err_ << "\r\033[K" << line << std::flush;
      shown_ = true;
      return;
    }
    if (s.iteration) line += "iter " + std::to_string(*s.iteration) + "  ";
    if (s.phase == Phase::PostcopyActive) line += "post-copy  ";
    if (s.remaining_bytes) line += "remaining " + format_bytes(*s.remaining_bytes) + "  ";
    if (v.throughput_bytes_per_s) line += rate_text(*v.throughput_bytes_per_s) + "  ";
    // QEMU has no dirty rate before the first pass ends: its 0 then means "not yet".
    if (s.dirty_rate_bytes_per_s &&
        (*s.dirty_rate_bytes_per_s > 0 || s.iteration.value_or(1) > 1)) {
      line += "dirty " + rate_text(*s.dirty_rate_bytes_per_s) + "  ";
    }
    if (v.expected_downtime_ms && std::isfinite(*v.expected_downtime_ms)) {
      line += "downtime ~" + format_duration(*v.expected_downtime_ms);
      if (s.qemu_expected_downtime_ms) {
        line += " (QEMU " + format_duration(*s.qemu_expected_downtime_ms) + ")";
      }
      line += "  ";
    }
    if (v.predicted_total_time_ms && s.elapsed_ms) {
      line +=
          "done in ~" + format_duration(std::max(0.0, *v.predicted_total_time_ms - *s.elapsed_ms));
    } else if (v.predicted_converges && !*v.predicted_converges) {
      line += "not converging";
    }
    if (v.stalled) line += "  STALLED";
    err_ << "\r\033[K" << line << std::flush;
    shown_ = true;
  }

  void iteration(const IterationView& v) override {
    const IterationRecord& r = v.record;
    std::string line = "iteration " + std::to_string(r.iteration);
    if (r.started_ms) line += " at " + format_duration(*r.started_ms);
    if (r.peak_bytes) {
      line += ": " + std::string(r.peak_measured ? "" : "about ") + format_bytes(*r.peak_bytes) +
              " pending";
    }
    if (v.forecast) line += "; predicted: " + forecast_text(v.forecast);
    if (!live_) print(line);
  }

  void stall(const Stall& s, const StallAdvice& a) override {
    print("stall: since iteration " + std::to_string(s.since_iteration) + " (at " +
          format_duration(s.since_ms) +
          ") what is pending at the start of an iteration has not "
          "fallen below " +
          format_bytes(s.low_peak_bytes) + " (latest " + format_bytes(s.last_peak_bytes) +
          "), noticed at iteration " + std::to_string(s.detected_iteration));
    std::string what;
    switch (a.action) {
      case Action::RaiseDowntime:
        what = "raise the max downtime to " + format_duration(*a.downtime_limit_ms);
        break;
      case Action::Postcopy:
        what = "switch to post-copy now";
        break;
      case Action::Abort:
        what = "abort the migration";
        break;
    }
    print("advice: " + what + ": " + a.command);
    print("  " + a.why);
  }

  void applied(const AppliedAction& a) override {
    print((a.ok ? "applied at " : "FAILED to apply at ") + format_duration(a.at_elapsed_ms) +
          " (iteration " + std::to_string(a.iteration) + "): " + a.advice.command +
          (a.ok ? "" : ": " + a.error));
  }

  void finished(const WatchSummary& s) override {
    clear_live();
    if (s.outcome == "none") {
      print(s.detail);
      return;
    }
    if (s.outcome == "error") {
      err_ << "error: " << s.detail << "\n";
      return;
    }
    std::string line = s.domain + ": ";
    if (s.outcome == "completed") {
      line += "migration completed";
      if (s.total_time_ms) line += " in " + format_duration(*s.total_time_ms);
      if (s.downtime_ms) line += ", paused " + format_duration(*s.downtime_ms);
      if (s.figures_from == "libvirt") line += " (libvirt's figures)";
      if (s.figures_from == "qmp") line += " (QEMU's figures, from query-migrate)";
    } else if (s.outcome == "interrupted") {
      line += s.detail;
    } else {
      line += s.detail;
    }
    print(line);
    print("  predicted when attached: " + forecast_text(s.at_attach));
    if (s.at_second_iteration) {
      print("  predicted at the start of iteration 2: " + forecast_text(s.at_second_iteration));
    }
  }

 private:
  void print(const std::string& line) {
    clear_live();
    out_ << line << "\n" << std::flush;
  }
  void clear_live() {
    if (shown_) err_ << "\r\033[K" << std::flush;
    shown_ = false;
  }

  std::ostream& out_;
  std::ostream& err_;
  bool live_;
  bool shown_ = false;
  std::string domain_;
};

// ------------------------------------------------------------------------------------ JSON

class JsonOutput : public WatchOutput {
 public:
  JsonOutput(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  void attached(const AttachView& v) override {
    emit({{"event", "attach"},
          {"domain", v.domain},
          {"run_by", to_string(v.owner)},
          {"downtime_limit_ms", opt_ms(v.downtime_limit_ms)},
          {"postcopy_allowed", v.postcopy_allowed ? json(*v.postcopy_allowed) : json(nullptr)},
          {"dirty_granularity_bytes", v.granularity.bytes},
          {"dirty_curve", v.curve_origin},
          {"apply", v.apply},
          {"prediction", forecast_json(v.forecast)}});
  }

  void sample(const SampleView& v) override {
    const Sample& s = v.sample;
    json sources = json::object();
    for (const auto& [k, src] : s.sources) sources[k] = src;
    emit({{"event", "sample"},
          {"at_ms", std::round(s.at_ms)},
          {"run_by", to_string(s.owner)},
          {"status", to_string(s.phase)},
          {"qemu_status", s.qemu_status},
          {"elapsed_ms", opt_ms(s.elapsed_ms)},
          {"iteration", s.iteration ? json(*s.iteration) : json(nullptr)},
          {"remaining_bytes", opt_bytes(s.remaining_bytes)},
          {"ram_remaining_bytes", opt_bytes(s.ram_remaining_bytes)},
          {"ram_transferred_bytes", opt_bytes(s.ram_transferred_bytes)},
          {"ram_total_bytes", opt_bytes(s.ram_total_bytes)},
          {"vfio_transferred_bytes", opt_bytes(s.vfio_transferred_bytes)},
          {"throughput_bytes_per_s", opt(v.throughput_bytes_per_s)},
          {"qemu_bandwidth_bytes_per_s", opt(s.qemu_bandwidth_bytes_per_s)},
          {"dirty_rate_bytes_per_s", opt(s.dirty_rate_bytes_per_s)},
          {"throttle_percent", opt(s.throttle_percent)},
          {"expected_downtime_ms", opt_ms(v.expected_downtime_ms)},
          {"pending_if_paused_bytes", opt_bytes(v.pending_if_paused_bytes)},
          {"dirtied_since_sync_bytes", opt_bytes(v.dirtied_since_sync_bytes)},
          {"downtime_rate_bytes_per_s", opt(v.downtime_rate_bytes_per_s)},
          {"downtime_at_link_speed", v.downtime_at_link_speed},
          {"qemu_expected_downtime_ms", opt_ms(s.qemu_expected_downtime_ms)},
          {"downtime_limit_ms", opt_ms(v.downtime_limit_ms)},
          {"predicted_total_time_ms", opt_ms(v.predicted_total_time_ms)},
          {"predicted_converges",
           v.predicted_converges ? json(*v.predicted_converges) : json(nullptr)},
          {"stalled", v.stalled},
          {"sources", sources}});
  }

  void iteration(const IterationView& v) override {
    const IterationRecord& r = v.record;
    emit({{"event", "iteration"},
          {"iteration", r.iteration},
          {"started_ms", opt_ms(r.started_ms)},
          {"peak_bytes", opt_bytes(r.peak_bytes)},
          {"peak_measured", r.peak_measured},
          {"downtime_limit_ms", opt_ms(v.downtime_limit_ms)},
          {"dirty_curve", v.curve_origin},
          {"prediction", forecast_json(v.forecast)}});
  }

  void stall(const Stall& s, const StallAdvice& a) override {
    json j = stall_json(s);
    j["event"] = "stall";
    j["advice"] = advice_json(a);
    emit(j);
  }

  void applied(const AppliedAction& a) override {
    emit({{"event", "applied"},
          {"action", to_string(a.advice.action)},
          {"command", a.advice.command},
          {"downtime_limit_ms", opt_ms(a.advice.downtime_limit_ms)},
          {"at_ms", std::round(a.at_elapsed_ms)},
          {"iteration", a.iteration},
          {"ok", a.ok},
          {"error", a.error}});
  }

  void finished(const WatchSummary& s) override {
    if (s.outcome == "error") err_ << "error: " << s.detail << "\n";
    emit({{"event", "summary"},
          {"domain", s.domain},
          {"outcome", s.outcome},
          {"detail", s.detail},
          {"error_key", s.outcome == "error" ? json(s.error_key) : json(nullptr)},
          {"exit_status", s.exit_status},
          {"total_time_ms", opt_ms(s.total_time_ms)},
          {"downtime_ms", opt_ms(s.downtime_ms)},
          {"figures_from", s.figures_from},
          {"iterations", s.iterations},
          {"predicted_at_attach", forecast_json(s.at_attach)},
          {"predicted_at_second_iteration", forecast_json(s.at_second_iteration)},
          {"stall", s.stall ? stall_json(*s.stall) : json(nullptr)},
          {"applied", s.applied ? json({{"action", to_string(s.applied->advice.action)},
                                        {"command", s.applied->advice.command},
                                        {"at_ms", std::round(s.applied->at_elapsed_ms)},
                                        {"ok", s.applied->ok}})
                                : json(nullptr)}});
  }

 private:
  void emit(const json& j) {
    out_ << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n" << std::flush;
  }
  std::ostream& out_;
  std::ostream& err_;
};

}  // namespace

std::unique_ptr<WatchOutput> human_output(std::ostream& out, std::ostream& err, bool live_line) {
  return std::make_unique<HumanOutput>(out, err, live_line);
}

std::unique_ptr<WatchOutput> json_output(std::ostream& out, std::ostream& err) {
  return std::make_unique<JsonOutput>(out, err);
}

}  // namespace vmp::watch
