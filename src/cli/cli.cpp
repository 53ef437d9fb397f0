#include "cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <exception>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/error.hpp"
#include "base/format.hpp"
#include "base/stop_signals.hpp"
#include "base/units.hpp"
#include "model/defaults.hpp"
#include "predict/drain.hpp"
#include "predict/predict.hpp"
#include "probe/live.hpp"
#include "report/drain.hpp"
#include "report/human.hpp"
#include "report/json_report.hpp"
#include "vmp_config.h"
#include "watch/watch.hpp"

namespace vmp::cli {

int exit_status_for(const report::Report& report) {
  switch (report.advice.verdict) {
    case model::Verdict::Migrate:
      return kExitConverges;
    case model::Verdict::RaiseDowntime:
    case model::Verdict::MoreBandwidth:
    case model::Verdict::AutoConverge:
    case model::Verdict::PostCopy:
      return kExitChangedSettings;
    case model::Verdict::DoNotMigrate:
      return kExitNoConvergence;
    case model::Verdict::NoBandwidth:
      return kExitNoBandwidth;
  }
  return kExitNoConvergence;
}

int combined_exit_status(const std::vector<int>& statuses) {
  for (int s : std::initializer_list<int>{kExitInterrupted + SIGINT, kExitInterrupted + SIGTERM,
                                          kExitError, kExitUsage, kExitNoConvergence,
                                          kExitNoBandwidth, kExitChangedSettings}) {
    if (std::find(statuses.begin(), statuses.end(), s) != statuses.end()) return s;
  }
  return kExitConverges;
}

namespace {

const char* kExitStatusHelp =
    "Exit status:\n"
    "  0  migrate: the migration converges with the settings in effect\n"
    "  1  error: libvirt or QEMU failed, the domain is unknown or not running, or the profile\n"
    "     could not be read or is invalid\n"
    "  2  usage error: an option or its value is wrong\n"
    "  3  it converges only with changed settings: a longer max downtime, more bandwidth,\n"
    "     auto-converge or post-copy (the advice says which and how)\n"
    "  4  do not migrate: nothing allowed converges (see --max-downtime, --max-bandwidth,\n"
    "     --allow-auto-converge, --allow-postcopy)\n"
    "  5  no verdict: no migration bandwidth is known (give --bandwidth or --link-speed)\n"
    "  130, 143  interrupted by SIGINT, SIGTERM: the measurement stops, QEMU is left as it was\n"
    "     (the error says whether a dirty-rate period it had started still runs)\n"
    "With several domains, the most serious status of any: 130, 143, 1, 2, 4, 5, 3, then 0.\n"
    "With --drain: 0 when every domain is in the plan and converges in it; a domain left out\n"
    "gives its own status (3 or 4), one not measured 1; the most serious of them, as above.\n"
    "With --watch (following a migration under way until it ends):\n"
    "  0  the migration completed\n"
    "  1  error: libvirt or QEMU failed, the domain vanished or the connection dropped\n"
    "  2  usage error\n"
    "  10 the domain has no migration running: nothing to watch\n"
    "  11 the migration failed or was cancelled (also by the abort --apply may take)\n"
    "  130, 143  interrupted by SIGINT, SIGTERM: the watch stops, the migration goes on\n"
    "\n"
    "Rates: 10Gbit/s, 1.25GB/s, 800MiB/s; a bare number is MiB/s (as virsh migrate-setspeed).\n"
    "Times: 300ms, 2s, 5m; a bare --downtime is ms (as virsh migrate-setmaxdowntime), a bare\n"
    "--deadline or --measure-time is seconds.\n"
    "\n"
    "Measuring goes through QEMU's monitor (QMP) by default, which makes libvirt mark the domain\n"
    "tainted (custom-monitor). --no-qmp uses libvirt's own dirty-rate API instead: no taint, but\n"
    "whole-second periods and QEMU's default sampling of 512 pages per GiB.";

struct RawOptions {
  std::string profile;
  std::vector<std::string> domains;
  bool all_running = false;
  bool allow_auto_converge = false;
  bool allow_postcopy = false;
  std::string connect;
  bool readonly = false;
  std::string bandwidth;
  std::string link_speed;
  std::string downtime;
  std::string deadline;
  std::string measure_time;
  std::uint64_t sample_pages = 0;
  std::string mode = "page-sampling";
  bool no_qmp = false;
  bool quiet = false;
  std::string save_profile;
  std::string curve = "auto";
  std::string max_downtime;
  std::string max_bandwidth;
  bool table = false;
  bool json = false;
  bool apply = false;    // --watch only
  std::string interval;  // --watch only
  bool drain = false;
  std::string concurrent;  // --drain only
};

report::Setting from_command_line(double value) { return {value, report::Source::CommandLine, {}}; }

predict::Options resolve(const RawOptions& raw) {
  predict::Options o;
  auto& s = o.settings;
  if (!raw.bandwidth.empty()) {
    s.bandwidth_bytes_per_s =
        from_command_line(parse_rate_bytes_per_s(raw.bandwidth, "--bandwidth"));
  }
  if (!raw.link_speed.empty()) {
    s.link_bytes_per_s = from_command_line(parse_rate_bytes_per_s(raw.link_speed, "--link-speed"));
  }
  s.downtime_limit_ms =
      raw.downtime.empty()
          ? report::Setting{model::kDefaultDowntimeLimitMs, report::Source::Default, {}}
          : from_command_line(parse_time_ms(raw.downtime, TimeUnit::Milliseconds, "--downtime"));
  s.deadline_ms =
      raw.deadline.empty()
          ? report::Setting{model::kDefaultDeadlineMs, report::Source::Default, {}}
          : from_command_line(parse_deadline_ms(raw.deadline));
  if (!raw.max_downtime.empty()) {
    o.limits.max_downtime_ms =
        parse_time_ms(raw.max_downtime, TimeUnit::Milliseconds, "--max-downtime");
  }
  if (!raw.max_bandwidth.empty()) {
    o.limits.max_bandwidth_bytes_per_s =
        parse_rate_bytes_per_s(raw.max_bandwidth, "--max-bandwidth");
  }
  o.curve_policy = model::parse_curve_policy(raw.curve);
  o.with_grid = raw.table;
  o.limits.allow_auto_converge = raw.allow_auto_converge;
  o.limits.allow_postcopy = raw.allow_postcopy;
  return o;
}

probe::LiveOptions live_options(const RawOptions& raw) {
  probe::LiveOptions o;
  if (!raw.measure_time.empty()) {
    o.measure_time_ms = parse_time_ms(raw.measure_time, TimeUnit::Seconds, "--measure-time");
    if (o.measure_time_ms < 1000 || o.measure_time_ms > 600000) {
      throw UsageError("--measure-time: '" + raw.measure_time +
                       "' is outside 1s..10m (QEMU measures whole seconds up to 60 s a period)");
    }
  }
  if (raw.sample_pages != 0 && raw.no_qmp) {
    throw UsageError(
        "--sample-pages: libvirt's dirty-rate API (--no-qmp) always samples 512 "
        "pages per GiB");
  }
  o.sample_pages_per_gib = raw.sample_pages;
  o.mode = raw.mode;
  o.use_qmp = !raw.no_qmp;
  // For the unit tests' transcripts (tests/unit/data/probe/record.sh), not for users.
  if (const char* dir = std::getenv("VMP_RECORD_EXCHANGES"); dir && *dir) {
    o.record_directory = dir;
  }
  return o;
}


// Progress on a terminal: one line, rewritten in place, cleared at the end. Measurements of
// several domains run at once and report here from their own threads.
class Progress {
 public:
  Progress(std::ostream& err, bool enabled) : err_(err), enabled_(enabled) {}
  ~Progress() { clear(); }
  void show(const std::string& domain, const std::string& text) {
    if (!enabled_) return;
    std::lock_guard lock(mutex_);
    state_[domain] = text;
    render();
  }
  void done(const std::string& domain) {
    if (!enabled_) return;
    std::lock_guard lock(mutex_);
    state_.erase(domain);
    ++done_;
    render();
  }
  void clear() {
    std::lock_guard lock(mutex_);
    if (shown_) err_ << "\r\033[K" << std::flush;
    shown_ = false;
  }

 private:
  void render() {
    std::string line;
    if (state_.size() == 1 && done_ == 0) {
      line = state_.begin()->first + ": " + state_.begin()->second;
    } else {
      line = "measuring " + std::to_string(state_.size()) + " domain(s), " + std::to_string(done_) +
             " done:";
      for (const auto& [name, text] : state_) line += " " + name;
    }
    if (line.size() > 100) line = line.substr(0, 97) + "...";
    err_ << "\r\033[K" << line << std::flush;
    shown_ = true;
  }
  std::ostream& err_;
  bool enabled_;
  bool shown_ = false;
  std::mutex mutex_;
  std::map<std::string, std::string> state_;
  int done_ = 0;
};

// Several domains are measured at once, each measurement mostly waiting for QEMU. 20 test guests
// (bench/many_domains.py, 2-core host) took 48-54 s eight at a time and 24-31 s all at once: the
// guests' own load keeps the cores busy either way, and one at a time the waves add up. Beyond
// this many the host's load (QEMU hashing sampled pages, guest memory reads) is not known.
constexpr std::size_t kMaxConcurrentMeasurements = 32;

// One domain's outcome: a report, or the error that stopped it.
struct DomainOutcome {
  std::string subject;
  std::optional<report::Report> report;
  std::string error;
  int status = kExitConverges;
  std::string error_key;
};

// One domain measured, and the settings in effect for it: what its prediction needs.
struct MeasuredDomain {
  probe::LiveResult measured;
  predict::Options options;
};

MeasuredDomain measure(virt::LiveConnection& connection, const std::string& name,
                       const RawOptions& raw, predict::Options options, Progress& progress,
                       const LiveServices& services, probe::QmpSchemaCache& schemas,
                       std::size_t together, probe::Clock& clock, double started) {
  auto target = connection.open(name);
  auto live = live_options(raw);
  live.started_ms = started;
  live.measured_together = together;
  // Every domain's prediction and the report come after the last period.
  live.after_periods_ms = static_cast<double>(together) * probe::kAfterPeriodsMsPerDomain;
  live.stop = &stop_signal();
  live.schema_cache = &schemas;
  live.claim_directory = services.claim_directory.empty() ? probe::default_claim_directory()
                                                          : services.claim_directory;
  // Keyed by the name as given, which is what the caller marks done.
  live.progress = [&](const std::string& text) { progress.show(name, text); };
  auto measured = probe::measure_domain(*target, live, clock);
  if (!raw.save_profile.empty()) probe::save_profile(measured.profile, raw.save_profile);

  predict::apply_domain_settings(options.settings, measured.config);
  predict::apply_guest_constraints(options, measured.config, measured.facts);
  if (options.switchover_bandwidth_bytes_per_s > 0) {
    measured.warnings.push_back(
        "QEMU's avail-switchover-bandwidth is " +
        vmp::format_rate(options.switchover_bandwidth_bytes_per_s) +
        ": the switchover decision uses it instead of the throughput QEMU measures (modelled)");
  }
  if (!options.zero_page_detection) {
    measured.warnings.push_back(
        "QEMU's zero-page-detection is none: zero pages are sent whole (modelled)");
  }
  return {std::move(measured), std::move(options)};
}

report::Report predict_measured(MeasuredDomain m) {
  std::string subject = m.measured.profile.domain;  // before the profile is moved
  auto r = predict::make_report(std::move(subject), std::move(m.measured.profile), m.options);
  r.facts = std::move(m.measured.facts);
  r.migration_config = std::move(m.measured.config);
  r.accelerator = m.measured.accelerator;
  // The measurement's warnings first, then what the prediction found in its figures.
  m.measured.warnings.insert(m.measured.warnings.end(), r.warnings.begin(), r.warnings.end());
  r.warnings = std::move(m.measured.warnings);
  return r;
}

// libvirt's steps seen on this host: each domain that came here by migration has its own; the
// others are lent one of those (model::lend_seen_steps).
void lend_libvirt_steps(std::vector<std::optional<MeasuredDomain>>& measured) {
  std::vector<model::SeenSteps> seen;
  for (const auto& m : measured) {
    if (m && m->measured.profile.libvirt_steps_seen_ms) {
      const auto& p = m->measured.profile;
      seen.push_back({p.domain, p.arch, *p.libvirt_steps_seen_ms, p.memory_preallocated});
    }
  }
  for (auto& m : measured) {
    if (m && !m->measured.profile.libvirt_steps_seen_ms) {
      m->options.lent_libvirt_steps = model::lend_seen_steps(seen, m->measured.profile.arch);
    }
  }
}

// The one mapping from an error to what the tool says and its exit status (man page: EXIT STATUS).
struct Failure {
  std::string message;
  std::string key;
  int status = kExitError;
};

Failure failure_of(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Interrupted& e) {
    return {e.what(), e.key(), e.exit_status()};
  } catch (const UsageError& e) {
    return {e.what(), e.key(), kExitUsage};
  } catch (const RuntimeError& e) {
    return {e.what(), e.key(), kExitError};
  } catch (const std::exception& e) {
    return {std::string("internal error: ") + e.what(), "internal", kExitError};
  }
}

DomainOutcome outcome_of(const std::string& subject,
                         const std::function<std::optional<report::Report>()>& run) {
  DomainOutcome o{subject, std::nullopt, {}, kExitConverges, {}};
  try {
    o.report = run();
    if (o.report) o.status = exit_status_for(*o.report);
  } catch (...) {
    const Failure f = failure_of(std::current_exception());
    o.error = vmp::one_line(f.message);
    o.error_key = f.key;
    o.status = f.status;
  }
  return o;
}

// Every domain named, and with --all-running every running one, each measured in a thread of
// its own (at most kMaxConcurrentMeasurements at once). One failing does not stop the others.
std::vector<DomainOutcome> run_live(const RawOptions& raw, const predict::Options& options,
                                    std::ostream& err, bool terminal,
                                    const LiveServices& services) {
  live_options(raw);  // option errors before anything connects
  // SIGINT/SIGTERM end the measurements at their next check, each leaving QEMU as it was
  // (probe/guard.hpp); a second signal exits at once.
  StopSignals signals;
  // The measurement time counts from here, for every domain of the first wave: the connection to
  // libvirt, the list of its domains and each domain's own connection are part of what the
  // caller waits for (20 busy test guests: 0.06-0.8 s before the last domain's connection
  // opened, which the time had not counted).
  probe::SystemClock system_clock;
  probe::Clock& clock = services.clock ? *services.clock : system_clock;
  const double run_started = clock.now_ms();
  // Lifecycle events (a guest paused or stopped mid-measurement) and the connection's closing
  // are noticed at once.
  auto connection = services.connect(
      raw.connect.empty() ? std::nullopt : std::optional<std::string>(raw.connect), raw.readonly);
  std::vector<std::string> names = raw.domains;
  if (raw.all_running) {
    for (auto& n : connection->running_domains()) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  }
  Progress progress(err, terminal && !raw.quiet);
  probe::QmpSchemaCache schemas;  // one query-qmp-schema per QEMU binary, not per domain
  std::vector<DomainOutcome> outcomes(names.size());
  std::vector<std::optional<MeasuredDomain>> measured(names.size());
  std::size_t next = 0;
  std::mutex next_mutex;
  const std::size_t wave = std::min(names.size(), kMaxConcurrentMeasurements);
  auto worker = [&] {
    for (;;) {
      std::size_t i;
      {
        std::lock_guard lock(next_mutex);
        if (next == names.size()) return;
        i = next++;
      }
      // A domain that could not be measured keeps its error here; one measured is predicted
      // below, once every domain of the host has been.
      outcomes[i] = outcome_of(names[i], [&]() -> std::optional<report::Report> {
        if (int sig = stop_signal().load()) {
          throw Interrupted(sig, std::string("interrupted (") + signal_name(sig) +
                                     ") before domain " + names[i] + " was measured");
        }
        // A domain beyond the first wave waited for a worker: its time counts from now.
        const double started = i < wave ? run_started : clock.now_ms();
        measured[i] = measure(*connection, names[i], raw, options, progress, services, schemas,
                              wave, clock, started);
        return std::nullopt;
      });
      progress.done(names[i]);
    }
  };
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < wave; ++w) {
    workers.emplace_back(worker);
  }
  for (auto& t : workers) t.join();
  progress.clear();
  lend_libvirt_steps(measured);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!measured[i]) continue;
    outcomes[i] = outcome_of(names[i], [&]() -> std::optional<report::Report> {
      return predict_measured(std::move(*measured[i]));
    });
  }
  return outcomes;
}

// CLI11 wants the arguments last-first.
std::vector<std::string> reversed(std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());
  return args;
}

void write_outcomes(const std::vector<DomainOutcome>& outcomes, bool as_array, bool json,
                    std::ostream& out, std::ostream& err) {
  for (const auto& o : outcomes) {
    if (!o.report) err << "error: " << o.error << "\n";
  }
  if (json) {
    auto doc = nlohmann::json::array();
    for (const auto& o : outcomes) {
      doc.push_back(o.report ? report::to_json(*o.report)
                             : report::error_json(o.subject, o.error, o.status, o.error_key));
    }
    // One domain or a profile: its report, or its error, as one object; several: an array.
    // Text from outside may hold bytes that are not UTF-8 (a profile's, quoted in an error):
    // replaced (U+FFFD), not thrown on.
    out << (as_array ? doc : doc.front())
               .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
    return;
  }
  for (const auto& o : outcomes) {
    if (o.report) {
      for (const auto& w : o.report->warnings) err << "warning: " << w << "\n";
    }
  }
  if (!as_array) {
    if (outcomes.front().report) report::write_human(out, *outcomes.front().report);
    return;
  }
  if (outcomes.empty()) {
    out << "no running domains: nothing to predict\n";
    return;
  }
  // All the verdicts first, a line each, then each domain's details.
  for (const auto& o : outcomes) {
    out << (o.report ? report::summary_line(*o.report)
                     : vmp::printable(o.subject) + ": error: " + o.error)
        << "\n";
  }
  for (const auto& o : outcomes) {
    if (!o.report) continue;
    out << "\n=== " << o.subject << " ===\n";
    report::write_human(out, *o.report);
  }
}

// What the command line asks for: the options as typed.
struct Command {
  RawOptions raw;
  std::vector<std::string> foreign_options;  // given with --watch, which they do not apply to
  bool watching = false;  // --watch is among the arguments: decides which options go together
  bool watch_flag = false;  // CLI11's copy of --watch (options bind to what outlives parsing)
};

// Every option, its help and the checks CLI11 makes on its own value.
void declare_options(CLI::App& app, Command& command) {
  RawOptions& raw = command.raw;
  const bool watching = command.watching;
  auto* domain_opt =
      app.add_option("-d,--domain", raw.domains,
                     "Running domain to measure: name, UUID or id; repeat for several")
          ->type_name("DOMAIN")
          ->allow_extra_args(false);
  auto* all_opt = app.add_flag("--all-running", raw.all_running,
                               "Measure every running domain of the connection");
  auto* profile_opt = app.add_option("--profile", raw.profile,
                                     "Predict from a saved dirty profile (JSON) instead; with "
                                     "--watch, the guest's dirty curve measured before")
                          ->type_name("FILE");
  if (!watching) domain_opt->excludes(profile_opt);
  all_opt->excludes(profile_opt);
  auto* connect_opt =
      app.add_option("-c,--connect", raw.connect,
                     "libvirt URI (default: $LIBVIRT_DEFAULT_URI, else libvirt's default)")
          ->type_name("URI");
  auto* readonly_opt = app.add_flag(
      "-r,--readonly", raw.readonly,
      "Connect read-only, as virsh -r; measuring needs read-write, so this only finds the "
      "domain and says so");
  app.add_option("--bandwidth", raw.bandwidth,
                 "Migration bandwidth (default: the domain's max speed, if capped)")
      ->type_name("RATE");
  app.add_option("--link-speed", raw.link_speed,
                 "The network's own speed, at which the paused guest's last pages go (QEMU lifts "
                 "the cap then); default: as fast as the migration thread, the interval's far "
                 "end as slow as the bandwidth")
      ->type_name("RATE");
  app.add_option("--downtime", raw.downtime,
                 "Max downtime, the switchover limit (default: the domain's, else 300ms)")
      ->type_name("TIME");
  app.add_option("--deadline", raw.deadline,
                 "Give up on a migration that has not converged by then (default 1h)")
      ->type_name("TIME");
  auto* measure_time_opt = app.add_option("--measure-time", raw.measure_time,
                                          "Time spent measuring the dirty rate (default 10s)")
                               ->type_name("TIME");
  auto* sample_pages_opt =
      app.add_option("--sample-pages", raw.sample_pages,
                     "Pages per GiB QEMU hashes (128..16384; default 16384, less above 16 GiB)")
          ->type_name("N");
  auto* mode_opt =
      app.add_option("--mode", raw.mode,
                     "page-sampling (default), or dirty-bitmap / dirty-ring (KVM only)")
          ->type_name("MODE")
          ->check(CLI::IsMember({"page-sampling", "dirty-bitmap", "dirty-ring"}));
  auto* no_qmp_opt =
      app.add_flag("--no-qmp", raw.no_qmp,
                   "Measure with libvirt's dirty-rate API: no custom-monitor taint (see below)");
  auto* quiet_opt = app.add_flag("-q,--quiet", raw.quiet, "No progress display while measuring");
  auto* save_opt = app.add_option("--save-profile", raw.save_profile,
                                  "Keep the measurement, for --profile later")
                       ->type_name("FILE");
  app.add_option("--curve", raw.curve,
                 "Dirty curve shape: auto (hybrid), hybrid, saturating, piecewise-linear (the "
                 "2023 RFC rule)")
      ->type_name("SHAPE");
  app.add_option("--max-downtime", raw.max_downtime,
                 "The longest pause the service tolerates, for advice (default 1s)")
      ->type_name("TIME");
  app.add_option("--max-bandwidth", raw.max_bandwidth,
                 "The most bandwidth the network can give, for advice (default: any)")
      ->type_name("RATE");
  app.add_flag("--allow-auto-converge", raw.allow_auto_converge,
               "Advice may propose auto-converge (QEMU throttles the guest's vCPUs)");
  app.add_flag("--allow-postcopy", raw.allow_postcopy,
               "Advice may propose post-copy (ends in bounded time; a network failure during it "
               "loses the guest)");
  app.add_flag("--table", raw.table, "Also show times for common bandwidths and downtime limits");
  app.add_flag("--json", raw.json, "Write the report as JSON on stdout");
  app.add_flag("--watch", command.watch_flag,
               "Follow the domain's migration under way until it ends: remaining, "
               "expected downtime, predicted completion, stalls and advice (man page: WATCHING A "
               "MIGRATION)");
  app.add_flag("--drain", raw.drain,
               "Plan evacuating the domains (--all-running, or --domain repeated) over one link "
               "(--link-speed), --concurrent at once: order, each one's time and pause, the total");
  app.add_option("--concurrent", raw.concurrent,
                 "With --drain: migrations at once (default 1, as Nova's "
                 "max_concurrent_live_migrations)")
      ->type_name("N");
  app.add_flag("--apply", raw.apply,
               "With --watch: take the advised action (once) when the migration stalls");
  app.add_option("--interval", raw.interval,
                 "With --watch: time between samples (default 200ms)")
      ->type_name("TIME");

  // What only a live measurement uses is an error with --profile, not silently ignored.
  for (auto* live_only : {connect_opt, readonly_opt, measure_time_opt, sample_pages_opt, mode_opt,
                          no_qmp_opt, quiet_opt, save_opt}) {
    if (!watching) profile_opt->excludes(live_only);
  }
  sample_pages_opt->check([](const std::string& v) -> std::string {
    if (v.empty()) return "empty value";
    const bool digits =
        !v.empty() && v.size() <= 9 &&
        std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); });
    if (!digits) return "'" + vmp::printable(v) + "' is not a whole number of pages";
    const auto n = std::stoull(v);
    if (n < probe::kMinSamplePagesPerGiB || n > probe::kMaxSamplePagesPerGiB) {
      return "'" + v + "' is not in " + std::to_string(probe::kMinSamplePagesPerGiB) + ".." +
             std::to_string(probe::kMaxSamplePagesPerGiB);
    }
    return {};
  });
}

// Parses `args` into `command` and checks what CLI11 cannot: empty values, options that do not
// go together. Throws CLI11's exceptions (help and version requests among them).
void parse_command_line(CLI::App& app, const std::vector<std::string>& args, Command& command) {
  RawOptions& raw = command.raw;
  const bool watching = command.watching;
  // "--profile=" is an empty value, not "take the next argument".
  for (const auto& a : args) {
    if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=') {
      throw CLI::ValidationError(a.substr(0, a.size() - 1) + ": empty value");
    }
  }
  try {
    app.parse(reversed(args));
  } catch (const CLI::ExtrasError&) {
    // CLI11's own message lists them last-first (it parses the reversed list); name them as
    // typed, the unknown options first.
    std::vector<std::string> options, others;
    for (const auto& e : app.remaining()) {
      (e.size() > 1 && e.front() == '-' ? options : others).push_back(vmp::printable(e));
    }
    auto listed = [](const std::vector<std::string>& v) {
      std::string list;
      for (const auto& e : v) list += (list.empty() ? "" : " ") + e;
      return list;
    };
    std::string message;
    if (!options.empty()) {
      message =
          "unknown option" + std::string(options.size() == 1 ? " " : "s ") + listed(options);
    }
    if (!others.empty()) {
      message += (message.empty() ? "unexpected argument" : "; unexpected argument") +
                 std::string(others.size() == 1 ? " " : "s ") + listed(others);
    }
    throw CLI::ValidationError(message);
  }
  // An option given an empty value ('--downtime ""') is an error, not the default.
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0 || opt->get_expected_min() == 0) continue;
    for (const auto& v : opt->results()) {
      if (v.empty()) throw CLI::ValidationError(opt->get_name() + ": empty value");
    }
  }
  if (watching) {
    if (raw.domains.size() > 1) {
      throw CLI::ValidationError("--watch follows one domain's migration: give one --domain");
    }
    // What does not apply to watching is refused by name rather than ignored.
    static const std::set<std::string> kWatchOptions = {
        "--watch",      "--apply",        "--interval", "--domain", "--connect",
        "--readonly",   "--no-qmp",       "--json",     "--quiet",  "--profile",
        "--link-speed", "--max-downtime", "--deadline", "--curve"};
    for (const CLI::Option* opt : app.get_options()) {
      if (opt->count() > 0 && !kWatchOptions.count(opt->get_name())) {
        command.foreign_options.push_back(opt->get_name());
      }
    }
  } else if (raw.apply || !raw.interval.empty()) {
    throw CLI::ValidationError(std::string(raw.apply ? "--apply" : "--interval") +
                               " only applies to --watch");
  } else if (raw.drain) {
    if (!raw.profile.empty()) {
      throw CLI::ValidationError(
          "--drain measures running domains: give --all-running or --domain (repeat), not "
          "--profile");
    }
    if (raw.domains.empty() && !raw.all_running) {
      throw CLI::ValidationError(
          "nothing to drain: give --all-running or --domain DOMAIN (repeat for several)");
    }
    if (raw.link_speed.empty()) {
      throw CLI::ValidationError(
          "--drain needs --link-speed: the speed of the link the migrations share");
    }
    if (raw.table) throw CLI::ValidationError("--table does not apply to --drain");
  } else if (!raw.concurrent.empty()) {
    throw CLI::ValidationError("--concurrent only applies to --drain");
  } else if (raw.domains.empty() && !raw.all_running && raw.profile.empty()) {
    throw CLI::ValidationError(
        "nothing to predict: give --domain DOMAIN, --all-running or --profile FILE");
  }
  if (!raw.save_profile.empty() && (raw.all_running || raw.domains.size() > 1)) {
    throw CLI::ValidationError("--save-profile keeps one measurement: give a single --domain");
  }
}

// --watch: its options checked and parsed by the rules a prediction's follow (resolve()).
watch::WatchRequest watch_request(const Command& command) {
  const RawOptions& raw = command.raw;
  if (!command.foreign_options.empty()) {
    std::string list;
    for (const auto& o : command.foreign_options) list += (list.empty() ? "" : ", ") + o;
    throw UsageError(list + (command.foreign_options.size() == 1 ? " does" : " do") +
                     " not apply to --watch (it watches a migration under way, with its own "
                     "settings)");
  }
  if (raw.domains.empty()) throw UsageError("--watch needs --domain DOMAIN: the domain migrating");
  if (raw.apply && raw.readonly) {
    throw UsageError("--apply changes the migration, which a read-only connection (-r) cannot");
  }
  watch::WatchRequest r;
  r.domain = raw.domains.front();
  if (!raw.connect.empty()) r.connect = raw.connect;
  r.readonly = raw.readonly;
  r.no_qmp = raw.no_qmp;
  r.json = raw.json;
  r.quiet = raw.quiet;
  watch::WatchOptions& o = r.options;
  o.apply = raw.apply;
  if (!raw.interval.empty()) {
    o.interval_ms = parse_time_ms(raw.interval, TimeUnit::Seconds, "--interval");
    if (o.interval_ms < watch::kMinIntervalMs || o.interval_ms > watch::kMaxIntervalMs) {
      throw UsageError("--interval: '" + raw.interval + "' is outside 50ms..60s");
    }
  }
  // The options --watch shares with a prediction (--link-speed, --max-downtime, --deadline,
  // --curve): one parse, one set of defaults.
  const predict::Options shared = resolve(raw);
  o.link_bytes_per_s = shared.settings.link_bytes_per_s.value;
  o.max_downtime_ms = shared.limits.max_downtime_ms;
  o.deadline_ms = *shared.settings.deadline_ms.value;
  o.curve_policy = shared.curve_policy;
  if (!raw.profile.empty()) {
    o.profile = probe::load_profile(raw.profile);
    o.profile_path = raw.profile;
  }
  return r;
}

int parse_concurrent(const std::string& text) {
  if (text.empty()) return 1;
  const bool digits = text.size() <= 3 && std::all_of(text.begin(), text.end(), [](unsigned char c) {
                        return std::isdigit(c);
                      });
  const int n = digits ? std::stoi(text) : 0;
  if (n < 1 || n > predict::kMaxConcurrent) {
    throw UsageError("--concurrent: '" + vmp::printable(text) + "' is not a whole number in 1.." +
                     std::to_string(predict::kMaxConcurrent));
  }
  return n;
}

// --drain: every domain measured (as --all-running does), each predicted with the shared link
// as its link, then the plan for them all; the plan's report and the exit status.
int run_drain(const RawOptions& raw, const predict::Options& options, std::ostream& out,
              std::ostream& err, bool terminal, const LiveServices& services) {
  const int concurrent = parse_concurrent(raw.concurrent);
  const double link = *options.settings.link_bytes_per_s.value;
  auto outcomes = run_live(raw, options, err, terminal, services);
  std::vector<report::Report> reports;
  std::vector<report::DrainFailure> failures;
  std::vector<int> statuses;
  for (auto& o : outcomes) {
    if (o.report) {
      reports.push_back(std::move(*o.report));
    } else {
      failures.push_back({o.subject, o.error, o.status, o.error_key});
      statuses.push_back(o.status);
      err << "error: " << o.error << "\n";
    }
  }
  const auto drain = predict::plan_drain(std::move(reports), std::move(failures), link, concurrent);
  for (std::size_t i : drain.plan.left_out) statuses.push_back(exit_status_for(drain.domains[i]));
  if (!drain.plan.all_converge) statuses.push_back(kExitNoConvergence);
  if (raw.json) {
    out << report::drain_to_json(drain).dump(2, ' ', false,
                                             nlohmann::json::error_handler_t::replace)
        << "\n";
  } else {
    for (const auto& d : drain.domains) {
      for (const auto& w : d.warnings) err << "warning: " << d.subject << ": " << w << "\n";
    }
    report::write_drain_human(out, drain);
  }
  return combined_exit_status(statuses);
}

// Runs the command: the watch, or a prediction for each domain or the profile; the exit status.
// `subject` names what an error is about, once it is known.
int run_command(Command& command, std::ostream& out, std::ostream& err, bool terminal,
                const LiveServices& services, std::string& subject) {
  const RawOptions& raw = command.raw;
  if (command.watching) {
    subject = raw.domains.empty() ? std::string() : raw.domains.front();
    probe::SystemClock system_clock;
    return watch::run_watch(watch_request(command), out, err, terminal, services.watch_connect,
                            services.clock ? *services.clock : system_clock);
  }
  subject =
      raw.profile.empty() ? (raw.domains.size() == 1 ? raw.domains.front() : "") : raw.profile;
  predict::Options options = resolve(raw);
  if (raw.drain) return run_drain(raw, options, out, err, terminal, services);
  std::vector<DomainOutcome> outcomes;
  if (!raw.profile.empty()) {
    // A profile that cannot be read is the run's error, not a domain's.
    outcomes.push_back({raw.profile,
                        predict::make_report(raw.profile, probe::load_profile(raw.profile),
                                             options),
                        {},
                        kExitConverges,
                        {}});
    outcomes.back().status = exit_status_for(*outcomes.back().report);
  } else {
    outcomes = run_live(raw, options, err, terminal, services);
  }
  const bool as_array = raw.all_running || raw.domains.size() > 1;
  write_outcomes(outcomes, as_array, raw.json, out, err);
  std::vector<int> statuses;
  for (const auto& o : outcomes) statuses.push_back(o.status);
  return combined_exit_status(statuses);
}

}  // namespace

int tool_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              bool terminal, const LiveServices& services) {
  CLI::App app{
      "Predict whether a live migration of a libvirt/QEMU guest converges, how long it takes and "
      "how long the guest is paused, and what to change when it does not: measure running "
      "domains, or predict from a saved profile.",
      "virt-migrate-predict"};
  app.footer(kExitStatusHelp);
  app.set_version_flag("-V,--version", std::string("virt-migrate-predict ") + VMP_VERSION);
  Command command;
  // --watch takes --profile (a dirty curve) together with --domain and --connect: the offline
  // prediction's exclusions do not apply to it.
  command.watching = std::find(args.begin(), args.end(), "--watch") != args.end();
  const bool watching = command.watching;
  declare_options(app, command);

  // With --json, every ending is one JSON object on stdout, an error too (man page, "ERRORS IN
  // JSON"): a script that parses the output always has something to parse.
  const bool json_requested = std::find(args.begin(), args.end(), "--json") != args.end();
  auto failed = [&](const std::string& subject, const std::string& message, const std::string& key,
                    int status, bool see_help = false) {
    const std::string line = vmp::one_line(message);
    if (json_requested && watching) {
      // The watch's stream ends in a summary event, also when the command line is wrong.
      return watch::json_error_summary(out, err, subject, line + (see_help ? " (see --help)" : ""),
                                       key, status);
    }
    err << "error: " << line << (see_help ? " (see --help)" : "") << "\n";
    if (json_requested) {
      out << report::error_json(subject, line, status, key)
                 .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
          << "\n";
    }
    return status;
  };

  try {
    parse_command_line(app, args, command);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitConverges;
  } catch (const CLI::CallForVersion&) {
    out << app.version() << "\n";
    return kExitConverges;
  } catch (const CLI::ParseError& e) {
    return failed("", e.what(), "usage", kExitUsage, true);
  }

  std::string subject;
  try {
    return run_command(command, out, err, terminal, services, subject);
  } catch (...) {
    const Failure f = failure_of(std::current_exception());
    return failed(subject, f.message, f.key, f.status);
  }
}

}  // namespace vmp::cli
