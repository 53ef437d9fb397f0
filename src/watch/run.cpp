// --watch from the command line: checks the options, connects, wires libvirt, and runs the loop.
#include <ostream>

#include "base/units.hpp"
#include "base/error.hpp"
#include "base/stop_signals.hpp"
#include "virt/domain_facts.hpp"
#include "virt/watch_target.hpp"
#include "watch/watch.hpp"

namespace vmp::watch {
namespace {

constexpr double kMinIntervalMs = 50, kMaxIntervalMs = 60000;

WatchOptions resolve(const WatchRequest& r) {
  if (!r.foreign_options.empty()) {
    std::string list;
    for (const auto& o : r.foreign_options) list += (list.empty() ? "" : ", ") + o;
    throw UsageError(list + (r.foreign_options.size() == 1 ? " does" : " do") +
                     " not apply to --watch (it watches a migration under way, with its own "
                     "settings)");
  }
  if (r.domain.empty()) throw UsageError("--watch needs --domain DOMAIN: the domain migrating");
  if (r.apply && r.readonly) {
    throw UsageError("--apply changes the migration, which a read-only connection (-r) cannot");
  }
  WatchOptions o;
  o.apply = r.apply;
  if (!r.interval.empty()) {
    o.interval_ms = vmp::parse_time_ms(r.interval, vmp::TimeUnit::Seconds, "--interval");
    if (o.interval_ms < kMinIntervalMs || o.interval_ms > kMaxIntervalMs) {
      throw UsageError("--interval: '" + r.interval + "' is outside 50ms..60s");
    }
  }
  if (!r.link_speed.empty()) {
    o.link_bytes_per_s = vmp::parse_rate_bytes_per_s(r.link_speed, "--link-speed");
  }
  if (!r.max_downtime.empty()) {
    o.max_downtime_ms =
        vmp::parse_time_ms(r.max_downtime, vmp::TimeUnit::Milliseconds, "--max-downtime");
  }
  if (!r.deadline.empty()) o.deadline_ms = parse_deadline_ms(r.deadline);
  o.curve_policy = model::parse_curve_policy(r.curve);
  return o;
}

}  // namespace

namespace {

int watch_or_throw(const WatchRequest& r, std::ostream& out, std::ostream& err, bool terminal,
                   const virt::WatchConnector& connect, probe::Clock& clock);

}  // namespace

int json_error_summary(std::ostream& out, std::ostream& err, const std::string& domain,
                       const std::string& detail, const std::string& error_key, int status) {
  WatchSummary s;
  s.domain = domain;
  s.outcome = "error";
  s.detail = detail;
  s.error_key = error_key;
  s.exit_status = status;
  json_output(out, err)->finished(s);
  return status;
}

// With --json, an error that ends the watch before it started still ends in the summary event
// the man page promises (outcome "error"), so that a consumer of the stream always gets one.
int run_watch(const WatchRequest& r, std::ostream& out, std::ostream& err, bool terminal,
              const virt::WatchConnector& connect, probe::Clock& clock) {
  if (!r.json) return watch_or_throw(r, out, err, terminal, connect, clock);
  auto ended = [&](const std::string& message, const std::string& key, int status) {
    return json_error_summary(out, err, r.domain, message, key, status);
  };
  try {
    return watch_or_throw(r, out, err, terminal, connect, clock);
  } catch (const UsageError& e) {
    return ended(e.what(), e.key(), kWatchUsage);
  } catch (const RuntimeError& e) {
    return ended(e.what(), e.key(), kWatchError);
  }
}

namespace {

int watch_or_throw(const WatchRequest& r, std::ostream& out, std::ostream& err, bool terminal,
                   const virt::WatchConnector& connect, probe::Clock& clock) {
  WatchOptions o = resolve(r);
  if (!r.profile.empty()) {
    o.profile = probe::load_profile(r.profile);
    o.profile_path = r.profile;
  }

  auto c = connect(r.connect.empty() ? std::nullopt : std::optional<std::string>(r.connect),
                   r.readonly, r.domain, !r.no_qmp && !r.readonly);
  auto output = r.json ? json_output(out, err) : human_output(out, err, terminal && !r.quiet);
  if (!c->active()) {
    WatchSummary s;
    s.domain = c->domain();
    s.outcome = "none";
    s.detail =
        "domain " + c->domain() + " is " + c->state_text() + ": it has no migration running";
    s.exit_status = kWatchNoMigration;
    output->finished(s);
    return kWatchNoMigration;
  }

  WatchTarget t;
  t.domain = c->domain();
  t.uri = c->uri();
  t.facts = virt::parse_domain_xml(c->domain_xml());
  t.job = &c->job();
  // QMP sees migrations libvirt does not run; it needs read-write and taints the domain.
  if (r.readonly) {
    t.no_monitor_reason =
        "with -r a migration started through QMP cannot be seen: QMP needs read-write";
  }
  t.monitor = c->monitor();
  t.control = &c->control();
  t.events = &c->events();

  StopSignals signals;
  return watch_migration(t, o, clock, *output, &stop_signal());
}

}  // namespace

}  // namespace vmp::watch
