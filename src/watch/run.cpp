// --watch from the command line: connects, wires libvirt, and runs the loop.
#include <ostream>

#include "base/error.hpp"
#include "base/stop_signals.hpp"
#include "virt/domain_facts.hpp"
#include "virt/watch_target.hpp"
#include "watch/watch.hpp"

namespace vmp::watch {

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

int run_watch(const WatchRequest& r, std::ostream& out, std::ostream& err, bool terminal,
              const virt::WatchConnector& connect, probe::Clock& clock) {
  auto c = connect(r.connect, r.readonly, r.domain, !r.no_qmp && !r.readonly);
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
  return watch_migration(t, r.options, clock, *output, &stop_signal());
}

}  // namespace vmp::watch
